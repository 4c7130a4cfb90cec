import test from 'ava';
import { newObjectId, OBJECT_ID_LENGTH } from '../src/ids.js';

test('object ids are 25 characters of [0-9a-z], so they are safe as names, hostnames and paths', (t) => {
  const seen = new Set<string>();
  for (let i = 0; i < 5000; i++) {
    const id = newObjectId();
    t.regex(id, /^[0-9a-z]{25}$/);
    seen.add(id);
  }
  t.is(OBJECT_ID_LENGTH, 25);
  t.is(seen.size, 5000, 'no collisions');
});

test('object ids pass the CRI runtime check on task ids (start with a letter or digit)', (t) => {
  for (let i = 0; i < 2000; i++) t.regex(newObjectId(), /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/);
});
