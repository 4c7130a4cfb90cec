import test from 'ava';
import { NodeRole, isShoalError } from '@shoal/api';
import { matchConstraint, matchConstraints, parseConstraint, parseConstraints, parseIpMatcher, parseSpreadDescriptor } from '../../src/scheduler/constraint.js';
import { node } from './_fixtures.js';

const n1 = node('n1', {
  hostname: 'alpha',
  role: NodeRole.MANAGER,
  labels: { zone: 'A', disk: 'ssd' },
  engineLabels: { gpu: 'yes' },
  os: 'Linux',
  arch: 'x86_64',
  addr: '192.168.1.17:4242',
});

const m = (c: string): boolean => matchConstraint(parseConstraint(c), n1);

test('node.id and node.hostname, == and !=', (t) => {
  t.true(m('node.id==n1'));
  t.false(m('node.id!=n1'));
  t.true(m('node.hostname==alpha'));
  t.true(m('node.hostname != beta'));
  t.true(m('node.hostname==ALPHA'), 'case-insensitive like SwarmKit');
});

test('node.role', (t) => {
  t.true(m('node.role==manager'));
  t.false(m('node.role==worker'));
  t.true(m('node.role!=worker'));
  t.true(matchConstraint(parseConstraint('node.role==worker'), node('w')));
});

test('node.platform.os and arch (normalised)', (t) => {
  t.true(m('node.platform.os==linux'));
  t.true(m('node.platform.arch==amd64'));
  t.true(m('node.platform.arch==x86_64'));
  t.false(m('node.platform.arch==arm64'));
});

test('node.labels and engine.labels; a missing label fails == and passes !=', (t) => {
  t.true(m('node.labels.zone==a'));
  t.true(m('node.labels.disk!=hdd'));
  t.false(m('node.labels.rack==r1'));
  t.true(m('node.labels.rack!=r1'));
  t.true(m('engine.labels.gpu==yes'));
  t.false(m('engine.labels.cuda==yes'));
});

test('node.ip: exact address and CIDR', (t) => {
  t.true(m('node.ip==192.168.1.17'));
  t.true(m('node.ip==192.168.1.0/24'));
  t.true(m('node.ip==192.168.0.0/16'));
  t.false(m('node.ip==192.168.2.0/24'));
  t.true(m('node.ip!=10.0.0.0/8'));
  const v6 = node('v6', { addr: '[fd00::5]:4242' });
  t.true(matchConstraint(parseConstraint('node.ip==fd00::/64'), v6));
  t.false(matchConstraint(parseConstraint('node.ip==fd01::/64'), v6));
  t.true(parseIpMatcher('::ffff:10.0.0.1')!.matches('::ffff:10.0.0.1'));
});

test('matchConstraints needs all of them', (t) => {
  t.true(matchConstraints(parseConstraints(['node.role==manager', 'node.labels.zone==a']), n1));
  t.false(matchConstraints(parseConstraints(['node.role==manager', 'node.labels.zone==b']), n1));
});

test('malformed constraints are rejected with InvalidArgument naming them', (t) => {
  const bad = ['node.labels.zone', 'node.labels.zone=a', 'foo.bar==x', 'node.hostname==', 'node.ip==300.1.1.1', 'node.ip==10.0.0.0/40', 'node.role==boss', 'node.labels.==x', '==x', 'node.id==a==b', 'node.id==a;b'];
  for (const c of bad) {
    const err = t.throws(() => parseConstraints(['node.id==ok', c]), undefined, c);
    t.true(isShoalError(err, 'InvalidArgument'), c);
    t.true(err!.message.includes(c), `${c}: ${err!.message}`);
    t.is((err as { field?: string }).field, 'task.placement.constraints[1]');
  }
});

test('spread descriptors', (t) => {
  t.deepEqual(parseSpreadDescriptor('node.labels.zone'), { kind: 'nodeLabel', label: 'zone' });
  t.deepEqual(parseSpreadDescriptor('engine.labels.dc'), { kind: 'engineLabel', label: 'dc' });
  t.throws(() => parseSpreadDescriptor('zone'));
});
