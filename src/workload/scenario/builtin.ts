// The scenario `hetmem run` runs without an argument, embedded so the command works from any
// folder; it is the same text as examples/default-story.yaml (a test keeps the two equal).

export const DEFAULT_SCENARIO_NAME = 'default-story.yaml';

export const DEFAULT_SCENARIO = `# The built-in scenario of \`hetmem run\`: the whole story in one run.
name: default-story
description: >-
  A process shares memory with a GPU that first mirrors it and then migrates it; the CPU touches
  pages the GPU migrated; an accelerator bound to the same address space by PASID fills a buffer
  through I/O page faults; the process exits while the accelerator still has work queued.
seed: 1
machine:
  ram: 1GiB
  contentMode: tokens
  costs: { profile: pcie4 }
  iommus:
    - { name: iommu0, flavour: vtd }
  devices:
    - { kind: gpu, name: gpu0, memory: 64MiB, mode: migrate }
    - { kind: accel, name: dsa0, iommu: iommu0, pagesPerGroup: 8 }
processes:
  - name: app
    program:
      - { op: mmap, name: data, size: 32MiB }
      - { op: touch, region: data, write: true }
      # The GPU reads the buffer in place (HMM mirroring: system pages over the link) ...
      - { op: gpu, device: gpu0, region: data, mode: mirror }
      # ... the application moves it into GPU memory (migrate_vma_*) and the GPU writes it there ...
      - { op: prefetch, device: gpu0, region: data, to: device }
      - { op: gpu, device: gpu0, region: data, write: true }
      # ... and far faults migrate a second buffer the GPU touches first.
      - { op: mmap, name: scratch, size: 8MiB }
      - { op: gpu, device: gpu0, region: scratch, write: true, mode: migrate }
      # The CPU reads every 16th page: each comes back to RAM through migrate_to_ram.
      - { op: touch, region: data, pattern: { kind: strided, stride: 16, lanes: 1 } }
      - { op: mmap, name: out, size: 4MiB }
      - { op: open, device: dsa0 }
      # The accelerator fills \`out\`, which the process never touched: every page is an I/O page fault.
      - { op: dma, device: dsa0, region: out, write: true }
      # More work for the accelerator, queued; the process exits without waiting for it.
      - { op: dma, device: dsa0, region: data, wait: false }
      - { op: exit }
expect:
  - { metric: pagesToDevice, equals: 10240 }
  - { metric: iopfGroups, min: 1 }
  - { metric: binds, equals: 1 }
  - { metric: unbinds, equals: 1 }
  - { noLeaks: true }
`;
