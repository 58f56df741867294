import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { closeDatabase, type Database, openDatabase } from '../../../src/state/db.js';
import { TenantsRepo } from '../../../src/state/tenants-repo.js';
import { TenantDirectory } from '../../../src/tenants/tenant-directory.js';

let dir: string;
/** The server's connection, which the directory reads through. */
let server: Database;
/** A second connection to the same file: the CLI in another process. */
let cli: Database;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'tributary-directory-'));
  server = openDatabase(dir);
  cli = openDatabase(dir);
});

afterEach(() => {
  closeDatabase(cli);
  closeDatabase(server);
  rmSync(dir, { recursive: true, force: true });
});

describe('TenantDirectory', () => {
  it('without a database knows no tenant and never changes', () => {
    const directory = new TenantDirectory(undefined);
    expect(directory.isDisabled('team-a')).toBe(false);
    expect(directory.disabledAt('team-a')).toBeUndefined();
    expect(directory.overridesOf('team-a')).toBeUndefined();
    expect(directory.tenants()).toEqual([]);
    expect(directory.refreshIfChanged()).toBe(false);
    directory.refresh();
    expect(directory.version).toBe(0);
  });

  it('reads the table when it is built', () => {
    const repo = new TenantsRepo(server);
    repo.create('off', undefined, 1);
    repo.setDisabled('off', 1234, 1234);
    repo.create('limited', undefined, 1);
    repo.setOverrides('limited', { max_active_series: 10 }, 2);
    repo.create('plain', 'nothing set', 1);

    const directory = new TenantDirectory(server);
    expect(directory.isDisabled('off')).toBe(true);
    expect(directory.disabledAt('off')).toBe(1234);
    expect(directory.overridesOf('off')).toBeUndefined();
    expect(directory.isDisabled('limited')).toBe(false);
    expect(directory.overridesOf('limited')).toEqual({ max_active_series: 10 });
    expect(directory.isDisabled('plain')).toBe(false);
    expect(directory.overridesOf('plain')).toBeUndefined();
    expect(directory.tenants().sort()).toEqual(['limited', 'off']);
    expect(directory.version).toBe(1);
  });

  it('sees a change committed through a second connection on refreshIfChanged', () => {
    const directory = new TenantDirectory(server);
    expect(directory.refreshIfChanged()).toBe(false);
    const version = directory.version;

    const cliRepo = new TenantsRepo(cli);
    cliRepo.ensure('team-a', 1000);
    cliRepo.setDisabled('team-a', 2000, 2000);
    expect(directory.isDisabled('team-a')).toBe(false);
    expect(directory.refreshIfChanged()).toBe(true);
    expect(directory.isDisabled('team-a')).toBe(true);
    expect(directory.disabledAt('team-a')).toBe(2000);
    expect(directory.version).toBe(version + 1);

    cliRepo.setOverrides('team-a', { ingestion_rate: 5, max_samples_per_request: 5, ingestion_burst_size: 5 }, 3000);
    expect(directory.refreshIfChanged()).toBe(true);
    expect(directory.overridesOf('team-a')).toEqual({ ingestion_rate: 5, max_samples_per_request: 5, ingestion_burst_size: 5 });
    expect(directory.version).toBe(version + 2);

    cliRepo.setDisabled('team-a', undefined, 4000);
    cliRepo.setOverrides('team-a', {}, 4000);
    expect(directory.refreshIfChanged()).toBe(true);
    expect(directory.isDisabled('team-a')).toBe(false);
    expect(directory.overridesOf('team-a')).toBeUndefined();
    expect(directory.version).toBe(version + 3);
  });

  it('does not count a commit that changed nothing it serves', () => {
    const directory = new TenantDirectory(server);
    const cliRepo = new TenantsRepo(cli);
    cliRepo.create('team-a', 'described', 1000);
    // A row with no disable and no overrides does not matter to a request.
    expect(directory.refreshIfChanged()).toBe(false);
    cliRepo.setDisabled('team-a', 2000, 2000);
    expect(directory.refreshIfChanged()).toBe(true);
    const version = directory.version;

    // Another table's commit, and a same-content rewrite, bump data_version but change nothing here.
    cli.prepare("INSERT INTO tokens (id, hash, tenant, clusters, created_at) VALUES ('tok_x', 'h', 'team-a', '[\"c\"]', 1)").run();
    expect(directory.refreshIfChanged()).toBe(false);
    cli.prepare("UPDATE tenants SET description = 'new words', updated_at = 3000 WHERE name = 'team-a'").run();
    expect(directory.refreshIfChanged()).toBe(false);
    expect(directory.version).toBe(version);
    expect(directory.isDisabled('team-a')).toBe(true);
  });

  it("needs refresh() for its own connection's commits, which data_version does not report", () => {
    const directory = new TenantDirectory(server);
    new TenantsRepo(server).ensure('team-a', 1000);
    new TenantsRepo(server).setOverrides('team-a', { max_active_series: 3 }, 1000);
    expect(directory.refreshIfChanged()).toBe(false);
    expect(directory.overridesOf('team-a')).toBeUndefined();

    directory.refresh();
    expect(directory.overridesOf('team-a')).toEqual({ max_active_series: 3 });
    expect(directory.version).toBe(1);
    // Already read: neither call counts it again.
    directory.refresh();
    expect(directory.refreshIfChanged()).toBe(false);
    expect(directory.version).toBe(1);
  });

  it('keeps its view when a row is malformed, and throws naming the tenant', () => {
    new TenantsRepo(cli).ensure('team-a', 1);
    new TenantsRepo(cli).setDisabled('team-a', 5, 5);
    const directory = new TenantDirectory(server);
    cli.prepare("INSERT INTO tenants (name, created_at, updated_at, limits) VALUES ('broken', 1, 1, 'oops')").run();
    expect(() => directory.refreshIfChanged()).toThrow(/tenant "broken" has a malformed limits column/);
    expect(directory.isDisabled('team-a')).toBe(true);
    // Once per change: the next poll does not throw again until something else commits.
    expect(directory.refreshIfChanged()).toBe(false);
  });

  it('returns false once the database is closed', () => {
    const directory = new TenantDirectory(server);
    new TenantsRepo(cli).ensure('team-a', 1);
    closeDatabase(server);
    expect(directory.refreshIfChanged()).toBe(false);
  });
});
