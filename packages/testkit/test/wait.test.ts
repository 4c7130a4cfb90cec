import test from 'ava';
import { observed, waitFor, WaitTimeoutError } from '../src/wait.js';

test('waitFor returns the value once the check holds', async (t) => {
  let n = 0;
  const v = await waitFor('n reaches 3', () => observed(++n >= 3, n, n * 10), 5_000, { intervalMs: 1 });
  t.is(v, 30);
});

test('on timeout waitFor names what it waited for and the last observation', async (t) => {
  const err = await t.throwsAsync(waitFor('three tasks RUNNING', () => observed(false, { running: 2 }), 50, { intervalMs: 5 }), { instanceOf: WaitTimeoutError });
  t.regex(err!.message, /waiting for: three tasks RUNNING/);
  t.regex(err!.message, /last observed: \{ running: 2 \}/);
});

test('errors thrown by the check are observations, not failures', async (t) => {
  let n = 0;
  await waitFor('the manager answers', () => {
    if (++n < 3) throw new Error('Unavailable: no leader');
    return true;
  }, 5_000, { intervalMs: 1 });
  const err = await t.throwsAsync(waitFor('never', () => { throw new Error('no leader'); }, 30, { intervalMs: 5 }));
  t.regex(err!.message, /last observed: Error: no leader/);
});

test('parseMetrics reads samples with labels', async (t) => {
  const { parseMetrics, metricValue } = await import('../src/metrics.js');
  const s = parseMetrics('# HELP x\n# TYPE x gauge\nshoal_tasks{state="running"} 4\nshoal_raft_term 3\nq{a="x\\"y",b="2"} 1.5\n');
  t.is(metricValue(s, 'shoal_tasks', { state: 'running' }), 4);
  t.is(metricValue(s, 'shoal_raft_term'), 3);
  t.is(metricValue(s, 'q', { a: 'x"y' }), 1.5);
  t.is(metricValue(s, 'nope'), undefined);
});
