// What the engine's local-address table (VIPs and LIPs, core.ts localGet) maps an address to:
// a LIP's pool slot (>= 0), LOCAL_VIP, or -1 for an address that is neither.
export const LOCAL_VIP = -2;
export const LOCAL_NONE = -1;
