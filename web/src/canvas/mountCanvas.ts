// What every canvas view does on mount: keep its controller sized to the container (in CSS pixels,
// with the device pixel ratio) and listen to the wheel non-passively, so the view can zoom instead
// of the page scrolling (JSX cannot ask for a non-passive listener). Returns the unmount step.

export interface CanvasController {
  resize(widthCss: number, heightCss: number, dpr: number): void;
  dispose(): void;
}

export function mountCanvas(
  container: HTMLElement,
  canvas: HTMLCanvasElement,
  controller: CanvasController,
  onWheel: (event: WheelEvent) => void,
): () => void {
  const measure = (): void => {
    const box = container.getBoundingClientRect();
    controller.resize(box.width, box.height, window.devicePixelRatio || 1);
  };
  measure();
  const observer = new ResizeObserver(measure);
  observer.observe(container);
  canvas.addEventListener('wheel', onWheel, { passive: false });
  return () => {
    observer.disconnect();
    canvas.removeEventListener('wheel', onWheel);
    controller.dispose();
  };
}
