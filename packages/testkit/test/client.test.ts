import test from 'ava';
import { bindServer, ControlService, createServer, Node, NodeRole, ShoalError, type ControlServer } from '@shoal/api';
import { controlClient } from '../src/client.js';

test('the promisified Control client calls unary methods and maps errors to ShoalError', async (t) => {
  const server = createServer();
  const impl: Partial<ControlServer> = {
    listNodes: (_call, cb) => cb(null, { nodes: [Node.fromPartial({ id: 'n1', role: NodeRole.MANAGER })] }),
    getNode: (call, cb) => cb(new ShoalError('NotFound', `node ${call.request.nodeId} not found`).toGrpc()),
  };
  server.addService(ControlService, impl as ControlServer);
  const port = await bindServer(server, '127.0.0.1:0');
  const api = controlClient(`127.0.0.1:${port}`);
  try {
    const res = await api.listNodes({});
    t.is(res.nodes[0]?.id, 'n1');
    const err = await t.throwsAsync(api.getNode({ nodeId: 'zz' }), { instanceOf: ShoalError });
    t.is(err!.code, 'NotFound');
    t.regex(err!.message, /node zz not found/);
  } finally {
    api.close();
    server.forceShutdown();
  }
});
