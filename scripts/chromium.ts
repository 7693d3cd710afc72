/**
 * How tests start Chromium: Debian's package (Playwright's own browser download cannot work on a
 * closed network) with the flags that keep it off the network (see ENVIRONMENT.md), and WebRTC
 * host candidates usable on loopback. `CHROMIUM_PATH` overrides the binary.
 */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-features=WebRtcHideLocalIpsWithMdns',
];
