// ManagerMetrics: the event-loop delay gauges report a stall between two scrapes, then restart.
import test from 'ava';
import { ManagerMetrics } from '../src/metrics.js';

function gauge(text: string, name: string): number {
  const m = new RegExp(`^${name} ([0-9.e+-]+)$`, 'm').exec(text);
  if (!m) throw new Error(`${name} not in the scrape`);
  return Number(m[1]);
}

const busy = (ms: number): void => {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    // block the event loop
  }
};
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

test('event-loop delay max and p99 cover the time since the previous scrape; heap in use is reported', async (t) => {
  const m = new ManagerMetrics();
  try {
    await sleep(100);
    await m.text(); // restart the window
    await sleep(50);
    busy(800);
    await sleep(100);
    const text = await m.text();
    const max = gauge(text, 'shoal_event_loop_delay_max_seconds');
    t.true(max >= 0.7, `an 800 ms stall shows as the max (${max} s)`);
    t.true(gauge(text, 'shoal_event_loop_delay_p99_seconds') > 0);
    t.true(gauge(text, 'shoal_process_heap_used_bytes') > 1e6);
    // the next window has no stall of that size (generous: a loaded machine delays timers too)
    await sleep(300);
    const again = gauge(await m.text(), 'shoal_event_loop_delay_max_seconds');
    t.true(again < max, `the previous stall is forgotten (${again} s < ${max} s)`);
  } finally {
    m.close();
  }
});
