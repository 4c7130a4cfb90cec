// Interpolation, short port syntax, shell splitting, sizes: small cases by hand.
import test from 'ava';
import { ComposeError, interpolateString } from '../src/compose/index.js';
import { parseEnvFile } from '../src/compose/interpolate.js';
import { bytesOf, nanoCpusOf, shellSplit } from '../src/compose/units.js';

const pos = { file: 'f.yml', line: 1, col: 1 };
const interp = (s: string, env: Record<string, string> = {}): { out: string; warnings: string[] } => {
  const warnings: string[] = [];
  return { out: interpolateString(s, { env, warn: (m) => warnings.push(m) }, pos, 'p'), warnings };
};

test('interpolation forms', (t) => {
  const env = { A: 'x', E: '' };
  t.is(interp('${A}-$A', env).out, 'x-x');
  t.is(interp('${E:-d}|${E-d}|${U:-d}|${U-d}', env).out, 'd||d|d');
  t.is(interp('${A:+yes}|${E:+yes}|${E+yes}', env).out, 'yes||yes');
  t.is(interp('$$A $${A} cost $$5', env).out, '$A ${A} cost $5');
  t.is(interp('${U:-${A}-nested}', env).out, 'x-nested');
  t.is(interp('${A:?boom}', env).out, 'x');
  t.is(interp('${E?boom}', env).out, '');
});

test('unset variable: blank string and a warning', (t) => {
  t.deepEqual(interp('a${NOPE}b'), { out: 'ab', warnings: ['The "NOPE" variable is not set. Defaulting to a blank string.'] });
});

test('required variables', (t) => {
  t.throws(() => interp('${E:?must set E}', { E: '' }), { instanceOf: ComposeError, message: 'f.yml:1:1: p: required variable E is missing a value: must set E' });
  t.throws(() => interp('${U?}'), { message: 'f.yml:1:1: p: required variable U is missing a value' });
  t.notThrows(() => interp('${E?x}', { E: '' }));
});

test('malformed interpolation', (t) => {
  t.throws(() => interp('${A'), { message: /unterminated/ });
  t.throws(() => interp('${1A}'), { message: /bad variable name/ });
  t.throws(() => interp('a $ b'), { message: /escape a literal \$ as \$\$/ });
});

test('.env parsing', (t) => {
  t.deepEqual(parseEnvFile('# c\nA=1\nexport B="two words"\nC=\'q\'\nD=x # comment\nE\n\n'), [['A', '1'], ['B', 'two words'], ['C', 'q'], ['D', 'x'], ['E', undefined]]);
});

test('sizes and cpus', (t) => {
  t.is(bytesOf('512M'), 536870912);
  t.is(bytesOf('1g'), 1073741824);
  t.is(bytesOf('1.5G'), 1610612736);
  t.is(bytesOf('100kb'), 102400);
  t.is(bytesOf('2048'), 2048);
  t.is(bytesOf('512X'), undefined);
  t.is(bytesOf('-1M'), undefined);
  t.is(nanoCpusOf('0.5'), 500_000_000);
  t.is(nanoCpusOf('2'), 2_000_000_000);
  t.is(nanoCpusOf('half'), undefined);
});

test('shell splitting of string commands', (t) => {
  t.deepEqual(shellSplit(`sh -c 'echo "hi there"' --x="a b" \\"q`), ['sh', '-c', 'echo "hi there"', '--x=a b', '"q']);
  t.deepEqual(shellSplit('redis-server --save ""'), ['redis-server', '--save', '']);
  t.is(shellSplit('echo "oops'), undefined);
});
