// The quickstart's example stack converts as intended.
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { PublishMode, UpdateOrder } from '@shoal/api';
import { sec, stack, svc } from './helpers.js';

const file = fileURLToPath(new URL('../../../deploy/examples/demo/docker-compose.yml', import.meta.url));

test('deploy/examples/demo converts', (t) => {
  const s = stack([file], {}, 'demo');
  t.deepEqual(s.order, ['demo_cache', 'demo_web', 'demo_worker']);
  const web = svc(s, 'demo_web');
  t.is(web.task!.container!.image, 'shoal-test/busybox:1');
  t.deepEqual(web.task!.container!.env, ['GREETING=hello from shoal']);
  t.deepEqual(web.endpoint?.ports.map((p) => [p.publishedPort, p.targetPort, p.publishMode]), [[8080, 8080, PublishMode.INGRESS]]);
  t.deepEqual(web.task!.container!.healthcheck?.interval, sec(5));
  t.is(web.update?.order, UpdateOrder.START_FIRST);
  t.deepEqual(web.task!.networks.map((n) => n.target), ['demo_back', 'demo_front']);
  const worker = svc(s, 'demo_worker');
  t.deepEqual(worker.update?.canary, { enabled: true, autoPromoteAfter: sec(30) });
  t.regex(worker.task!.container!.args[2]!, /\$\(date \+%s\)/);
  t.deepEqual(svc(s, 'demo_cache').task!.networks, [{ target: 'demo_back', aliases: ['redis', 'cache'], addresses: [] }]);
  t.deepEqual(s.secrets.map((x) => [x.annotations?.name, x.data.toString()]), [['demo_api_token', 'demo-token-change-me\n']]);
  t.deepEqual(s.configs.map((x) => x.annotations?.name), ['demo_index_html']);
  t.deepEqual(s.warnings, []);
});
