import type { PauseReason } from '../core/compute-node.ts';

/** What the user asked to pause for. */
export interface AutoPauseSettings {
  /** Pause while the tab is hidden (another tab in front, window minimised, screen locked). */
  whenHidden: boolean;
  /** Pause while the machine runs on battery (where the browser tells: the Battery Status API). */
  onBattery: boolean;
}

/** The subset of `BatteryManager` used here. */
interface Battery extends EventTarget {
  readonly charging: boolean;
}

/** The page's globals this reads; injectable for tests. */
export interface AutoPauseHost {
  document: Pick<Document, 'visibilityState' | 'addEventListener' | 'removeEventListener'>;
  navigator: { getBattery?: () => Promise<Battery> };
}

export interface AutoPause {
  /** New settings take effect at once. */
  update(settings: AutoPauseSettings): void;
  /** Whether this browser reports battery state (`false` until known, and in Firefox and Safari). */
  readonly batteryKnown: boolean;
  stop(): void;
}

/**
 * Pauses a node (`setPaused('hidden' | 'battery', …)`) when the page's state matches what the
 * user asked for, and resumes it when it no longer does. Visibility comes from the Page
 * Visibility API; power from `navigator.getBattery()` (Chromium); a browser without it never
 * pauses for the battery, and `batteryKnown` says so.
 */
export function watchAutoPause(
  node: { setPaused(reason: PauseReason, on: boolean): void },
  initial: AutoPauseSettings,
  host: AutoPauseHost = {
    document: globalThis.document,
    navigator: globalThis.navigator as AutoPauseHost['navigator'],
  },
): AutoPause {
  let settings = initial;
  let battery: Battery | undefined;
  let stopped = false;
  const apply = () => {
    if (stopped) return;
    node.setPaused('hidden', settings.whenHidden && host.document.visibilityState === 'hidden');
    node.setPaused('battery', settings.onBattery && battery !== undefined && !battery.charging);
  };
  host.document.addEventListener('visibilitychange', apply);
  void host.navigator.getBattery?.().then(
    (b) => {
      if (stopped) return;
      battery = b;
      b.addEventListener('chargingchange', apply);
      apply();
    },
    () => {
      // Refused (e.g. by a permissions policy): as if the browser had no battery API.
    },
  );
  apply();
  return {
    update(next) {
      settings = next;
      apply();
    },
    get batteryKnown() {
      return battery !== undefined;
    },
    stop() {
      stopped = true;
      host.document.removeEventListener('visibilitychange', apply);
      battery?.removeEventListener('chargingchange', apply);
    },
  };
}
