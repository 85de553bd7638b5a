import type { TaskTracker } from '../shared/tasks';

/**
 * A carrier-style send queue per sender: messages are accepted at once and queued, and leave at no
 * more than N segments per second (10DLC throughput is counted in segments). With no rate set they
 * leave immediately. Each message waits `segments / rate` seconds after it leaves before the next one
 * may, so the gap between two sends is never shorter than the first one's share of the rate.
 */
export class SenderQueue<T> {
  private readonly queues = new Map<string, { items: { item: T; segments: number }[]; running: boolean }>();

  constructor(
    private readonly tasks: TaskTracker,
    private readonly rateFor: (sender: string) => number | undefined,
    private readonly send: (item: T) => void,
  ) {}

  enqueue(sender: string, item: T, segments: number): void {
    let queue = this.queues.get(sender);
    if (queue === undefined) {
      queue = { items: [], running: false };
      this.queues.set(sender, queue);
    }
    queue.items.push({ item, segments: Math.max(1, segments) });
    if (!queue.running) {
      queue.running = true;
      this.tasks.track(`send queue ${sender}`, this.drain(queue, sender));
    }
  }

  /** Messages still waiting, per sender. */
  depth(): Record<string, number> {
    return Object.fromEntries([...this.queues].map(([sender, q]) => [sender, q.items.length]));
  }

  clear(): void {
    for (const queue of this.queues.values()) queue.items.length = 0;
  }

  private async drain(queue: { items: { item: T; segments: number }[]; running: boolean }, sender: string) {
    try {
      // Let the HTTP response that accepted the message go out before it is "sent".
      if (!(await this.tasks.sleep(0))) return;
      for (let next = queue.items.shift(); next !== undefined; next = queue.items.shift()) {
        this.send(next.item);
        const rate = this.rateFor(sender);
        if (rate !== undefined && rate > 0 && !(await this.tasks.sleep((next.segments * 1000) / rate))) return;
      }
    } finally {
      queue.running = false;
    }
  }
}
