/** Whether the real mosquitto tools are installed, for the tests that compare against them. */
import { spawnSync } from 'node:child_process';

/** True when `mosquitto_passwd` can be run (it exits 1 with its usage for `-h`; only ENOENT means absent). */
export function hasMosquittoPasswd(): boolean {
  const result = spawnSync('mosquitto_passwd', ['-h'], { stdio: 'ignore' });
  return (result.error as NodeJS.ErrnoException | undefined)?.code !== 'ENOENT';
}
