// The strategies-under-load checks of test/swarm.test.ts, on the single-engine
// runtime: the baseline the Swarm run is compared with. test/blue-green.test.ts
// and test/strategies.test.ts cover the same on this runtime in CI, so this one
// runs when asked (about 70 s): SHIPIT_RUNTIME_PARITY=1.
import { containerIds } from './support/harness';
import { strategiesUnderLoad } from './support/strategies-under-load';

jest.setTimeout(180_000);

if (process.env.SHIPIT_RUNTIME_PARITY === '1') {
  strategiesUnderLoad({ runtime: 'docker', running: (project, r) => containerIds(project, r) });
} else {
  it.skip('runtime: docker under load (set SHIPIT_RUNTIME_PARITY=1)', () => undefined);
}
