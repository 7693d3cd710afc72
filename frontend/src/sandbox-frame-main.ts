import { serveSandboxFrame } from '../../browser-node/src/browser/sandbox-frame.ts';

// The sandbox frame (`/sandbox.html`): runs a contributing tab's sandbox workers in a renderer
// process of its own, on the origin `GET /api/v1/config` names as `sandboxOrigin`.
serveSandboxFrame();
