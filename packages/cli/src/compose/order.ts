// Start order from depends_on: a topological order (ties broken by name, so it is stable);
// a cycle is an error naming the services on it.
import { ComposeError } from './errors.js';
import type { ServiceModel } from './model.js';

export function startOrder(services: readonly ServiceModel[]): string[] {
  const byName = new Map(services.map((s) => [s.name, s]));
  const state = new Map<string, 'visiting' | 'done'>();
  const out: string[] = [];
  const visit = (name: string, stack: string[]): void => {
    const st = state.get(name);
    if (st === 'done') return;
    const s = byName.get(name);
    if (!s) return;
    if (st === 'visiting') {
      const cycle = [...stack.slice(stack.indexOf(name)), name];
      const first = s.dependsOn[0];
      throw new ComposeError(first?.pos ?? s.pos, `services.${name}.depends_on`, `dependency cycle between services: ${cycle.join(' -> ')}`);
    }
    state.set(name, 'visiting');
    for (const d of [...s.dependsOn].sort((a, b) => a.name.localeCompare(b.name))) visit(d.name, [...stack, name]);
    state.set(name, 'done');
    out.push(name);
  };
  for (const name of [...byName.keys()].sort()) visit(name, []);
  return out;
}
