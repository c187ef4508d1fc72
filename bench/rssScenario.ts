// The scenario of engine.rss_MB_1Mi_pages (bench/rssRun.ts runs it in a fresh process).

/** 1 Mi pages resident: 768 Ki in RAM, 256 Ki migrated into a GPU's memory. */
export const RSS_SCENARIO = `
name: rss-1Mi-pages
machine:
  ram: 4200MiB
  contentMode: tokens
  sampleEvery: 1ms
  devices:
    - { kind: gpu, name: gpu0, memory: 1GiB, mode: migrate }
processes:
  - name: app
    program:
      - { op: mmap, name: a, size: 3GiB }
      - { op: touch, region: a, write: true }
      - { op: mmap, name: b, size: 1GiB }
      - { op: touch, region: b, write: true }
      - { op: gpu, device: gpu0, region: b }
      - { op: sleep, time: 1us }
expect:
  - { metric: pagesToDevice, equals: 262144 }
`;
