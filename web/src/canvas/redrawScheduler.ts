// Coalesces redraw requests into one drawing per animation frame: views ask for a redraw on every
// prop change, pointer move or resize, and draw only once before the next paint.

export class RedrawScheduler {
  private frame = 0;

  constructor(private readonly draw: () => void) {}

  schedule(): void {
    if (this.frame !== 0) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.draw();
    });
  }

  dispose(): void {
    if (this.frame !== 0) cancelAnimationFrame(this.frame);
    this.frame = 0;
  }
}
