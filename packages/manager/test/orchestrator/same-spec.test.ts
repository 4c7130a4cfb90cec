// sameSpec compares a task's spec with its service's by content when spec versions are absent
// (services created through the Control API carry none); frozen store objects are serialised once.
import test from 'ava';
import { ServiceSpec, type Service, type Task } from '@shoal/api';
import { sameSpec } from '../../src/orchestrator/plan.js';

/** As the store hands out its objects: frozen all the way down. */
function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object') {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}

function svc(env: string[]): Service {
  const spec = ServiceSpec.fromPartial({ annotations: { name: 'web' }, task: { container: { image: 'busybox:1', env } } });
  return { id: 's1', spec, pendingDelete: false } as Service;
}
const task = (s: Service): Task => ({ id: 't1', serviceId: s.id, spec: structuredClone(s.spec!.task) }) as Task;

test('content comparison without spec versions: equal copies match, a changed env does not', (t) => {
  const a = deepFreeze(svc(['A=1']));
  const b = deepFreeze(svc(['A=2']));
  const ta = deepFreeze(task(svc(['A=1'])));
  t.true(sameSpec(ta, a));
  t.false(sameSpec(ta, b));
  // asked again (the cached serialisations of frozen objects) the answers do not change
  t.true(sameSpec(ta, a));
  t.false(sameSpec(ta, b));
});

test('objects that are not frozen are compared as they are now, not as first seen', (t) => {
  const s = svc(['A=1']);
  const tk = task(s);
  t.true(sameSpec(tk, s));
  tk.spec!.container!.env.push('B=2');
  t.false(sameSpec(tk, s));
  s.spec!.task!.container!.env.push('B=2');
  t.true(sameSpec(tk, s));
});

test('spec versions decide when both sides have one', (t) => {
  const s = { ...svc(['A=1']), specVersion: { index: 3 } } as Service;
  t.true(sameSpec({ ...task(svc(['other=1'])), specVersion: { index: 3 } } as Task, s));
  t.false(sameSpec({ ...task(s), specVersion: { index: 2 } } as Task, s));
});
