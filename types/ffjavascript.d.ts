// The one export of ffjavascript (snarkjs's field library) that scripts/circuits.ts uses.
declare module 'ffjavascript' {
  export interface Curve {
    terminate(): Promise<void>;
  }
  export function getCurveFromName(name: string): Promise<Curve>;
  export function buildBn128(singleThread?: boolean): Promise<Curve>;
}
