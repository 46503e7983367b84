// `shipit preview down` with a misspelt name: not found (exit 2), naming the close one.
import type { PreviewRecord, PreviewStore } from '../ports/previews';
import { PreviewManager, type PreviewDeps } from './previews';

it('preview down of an unknown name suggests the close existing one', async () => {
  const records = [{ name: 'pr-42' }, { name: 'feature-login' }] as PreviewRecord[];
  const previews = {
    get: (name: string) => records.find((r) => r.name === name) ?? null,
    list: () => records,
  } as unknown as PreviewStore;
  // Only the preview store is reached before the name is refused.
  const m = new PreviewManager({ previews } as unknown as PreviewDeps);
  await expect(m.down('pr-24')).rejects.toMatchObject({
    code: 'not-found',
    message: 'no preview "pr-24"; did you mean "pr-42"?',
    hint: 'see: shipit preview ls',
  });
  await expect(m.down('nope')).rejects.toMatchObject({ message: 'no preview "nope"' });
  await expect(m.down('feature-logn')).rejects.toMatchObject({
    message: 'no preview "feature-logn"; did you mean "feature-login"?',
  });
});
