/**
 * Runs `slices` rounds in which every system gets one slice, rotating who goes first, so a
 * burst of load from elsewhere on the shared machine lands on all systems instead of on
 * whichever happened to run then. Returns each system's slice results, in system order.
 */
export async function inTurns<S, R>(systems: readonly S[], slices: number, measure: (system: S, slice: number) => Promise<R>): Promise<R[][]> {
  const results: R[][] = systems.map(() => []);
  for (let k = 0; k < slices; k++) {
    for (let j = 0; j < systems.length; j++) {
      const i = (j + k) % systems.length;
      results[i]!.push(await measure(systems[i]!, k));
    }
  }
  return results;
}
