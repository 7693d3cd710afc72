import { expect, test } from 'vitest';
import type { PauseReason } from '../core/compute-node.ts';
import { type AutoPauseHost, watchAutoPause } from './auto-pause.ts';

// The pause rules against stand-ins for the page's document and battery (the e2e test drives the
// real page in Chromium).

class FakeDocument extends EventTarget {
  visibilityState: DocumentVisibilityState = 'visible';
  set(state: DocumentVisibilityState) {
    this.visibilityState = state;
    this.dispatchEvent(new Event('visibilitychange'));
  }
}
class FakeBattery extends EventTarget {
  charging = true;
  set(charging: boolean) {
    this.charging = charging;
    this.dispatchEvent(new Event('chargingchange'));
  }
}

function setUp(battery?: FakeBattery) {
  const document = new FakeDocument();
  const paused = new Set<PauseReason>();
  const node = { setPaused: (r: PauseReason, on: boolean) => void (on ? paused.add(r) : paused.delete(r)) };
  const host = {
    document,
    navigator: battery ? { getBattery: async () => battery } : {},
  } as unknown as AutoPauseHost;
  return { document, paused, node, host };
}

test('default: nothing asked, nothing paused, whatever the tab and power do', async () => {
  const battery = new FakeBattery();
  const { document, paused, node, host } = setUp(battery);
  watchAutoPause(node, { whenHidden: false, onBattery: false }, host);
  document.set('hidden');
  battery.set(false);
  await Promise.resolve();
  expect([...paused]).toEqual([]);
});

test('hidden: pauses while hidden and resumes when shown; turning the option off resumes', async () => {
  const { document, paused, node, host } = setUp();
  const auto = watchAutoPause(node, { whenHidden: true, onBattery: false }, host);
  document.set('hidden');
  expect([...paused]).toEqual(['hidden']);
  document.set('visible');
  expect([...paused]).toEqual([]);
  document.set('hidden');
  auto.update({ whenHidden: false, onBattery: false });
  expect([...paused]).toEqual([]);
  auto.stop();
  auto.update({ whenHidden: true, onBattery: false });
  document.set('visible');
  document.set('hidden');
  expect([...paused]).toEqual([]);
});

test('battery: pauses when unplugged, resumes when charging; a browser without the API never pauses for it', async () => {
  const battery = new FakeBattery();
  battery.charging = false;
  const { paused, node, host } = setUp(battery);
  const auto = watchAutoPause(node, { whenHidden: false, onBattery: true }, host);
  await new Promise((r) => setTimeout(r, 0));
  expect(auto.batteryKnown).toBe(true);
  expect([...paused]).toEqual(['battery']);
  battery.set(true);
  expect([...paused]).toEqual([]);
  battery.set(false);
  expect([...paused]).toEqual(['battery']);
  auto.stop();

  const none = setUp();
  const noApi = watchAutoPause(none.node, { whenHidden: false, onBattery: true }, none.host);
  await new Promise((r) => setTimeout(r, 0));
  expect(noApi.batteryKnown).toBe(false);
  expect([...none.paused]).toEqual([]);
});
