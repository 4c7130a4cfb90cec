// Names of the files shoald keeps in its data dir (besides node.json and config.json).
/** raft members sent by the leader on join, kept until the manager has started once */
export const PEERS_FILE = 'raft-peers.json';
/** the token the node joined with (0600), to renew its registration and learn its role */
export const TOKEN_FILE = 'join-token';
