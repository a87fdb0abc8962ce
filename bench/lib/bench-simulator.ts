import { AmiSimulator } from '../../src/sim/ami-simulator.js';
import { AMI_SECRET, AMI_USER } from './daemon-process.js';

/** The AMI simulator as the benchmarks' PBX, with the bench's credentials. */
export async function startBenchSimulator(): Promise<{ sim: AmiSimulator; port: number }> {
  const sim = new AmiSimulator({ username: AMI_USER, secret: AMI_SECRET });
  const port = await sim.listen(0, '127.0.0.1');
  return { sim, port };
}
