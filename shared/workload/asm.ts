/**
 * A tiny EVM assembler for hand-written test contracts: opcodes by name, pushes sized to their
 * value, and labels (a label emits a JUMPDEST; a reference pushes its offset as PUSH2).
 *
 *   asm('PUSH0', 'CALLDATALOAD', { push: 1 }, 'ADD', { label: 'end' }, { ref: 'end' }, 'JUMP')
 */
const OPCODES: Record<string, number> = {
  STOP: 0x00,
  ADD: 0x01,
  MUL: 0x02,
  SUB: 0x03,
  DIV: 0x04,
  MOD: 0x06,
  LT: 0x10,
  GT: 0x11,
  EQ: 0x14,
  ISZERO: 0x15,
  AND: 0x16,
  OR: 0x17,
  NOT: 0x19,
  SHL: 0x1b,
  SHR: 0x1c,
  SHA3: 0x20,
  ADDRESS: 0x30,
  BALANCE: 0x31,
  ORIGIN: 0x32,
  CALLER: 0x33,
  CALLVALUE: 0x34,
  CALLDATALOAD: 0x35,
  CALLDATASIZE: 0x36,
  CALLDATACOPY: 0x37,
  CODESIZE: 0x38,
  CODECOPY: 0x39,
  GASPRICE: 0x3a,
  EXTCODESIZE: 0x3b,
  EXTCODECOPY: 0x3c,
  RETURNDATASIZE: 0x3d,
  RETURNDATACOPY: 0x3e,
  EXTCODEHASH: 0x3f,
  BLOCKHASH: 0x40,
  COINBASE: 0x41,
  TIMESTAMP: 0x42,
  NUMBER: 0x43,
  PREVRANDAO: 0x44,
  GASLIMIT: 0x45,
  CHAINID: 0x46,
  SELFBALANCE: 0x47,
  BASEFEE: 0x48,
  BLOBHASH: 0x49,
  BLOBBASEFEE: 0x4a,
  POP: 0x50,
  MLOAD: 0x51,
  MSTORE: 0x52,
  MSTORE8: 0x53,
  SLOAD: 0x54,
  SSTORE: 0x55,
  JUMP: 0x56,
  JUMPI: 0x57,
  PC: 0x58,
  MSIZE: 0x59,
  GAS: 0x5a,
  JUMPDEST: 0x5b,
  TLOAD: 0x5c,
  TSTORE: 0x5d,
  MCOPY: 0x5e,
  PUSH0: 0x5f,
  LOG0: 0xa0,
  LOG1: 0xa1,
  LOG2: 0xa2,
  LOG3: 0xa3,
  LOG4: 0xa4,
  CREATE: 0xf0,
  CALL: 0xf1,
  CALLCODE: 0xf2,
  RETURN: 0xf3,
  DELEGATECALL: 0xf4,
  CREATE2: 0xf5,
  STATICCALL: 0xfa,
  REVERT: 0xfd,
  INVALID: 0xfe,
  SELFDESTRUCT: 0xff,
}
for (let i = 1; i <= 16; i++) {
  OPCODES[`DUP${i}`] = 0x7f + i
  OPCODES[`SWAP${i}`] = 0x8f + i
}

export type AsmItem =
  | string
  | { push: bigint | number | string | Uint8Array }
  | { label: string }
  | { ref: string }
  | { raw: Uint8Array }

function pushBytes(value: bigint | number | string | Uint8Array): Uint8Array {
  if (value instanceof Uint8Array) return value
  if (typeof value === 'string') {
    const s = value.replace(/^0x/, '')
    return Uint8Array.from(Buffer.from(s.length % 2 === 1 ? `0${s}` : s, 'hex'))
  }
  let v = BigInt(value)
  if (v < 0n) throw new Error(`asm: negative push ${v}`)
  const out: number[] = []
  while (v > 0n) {
    out.unshift(Number(v & 0xffn))
    v >>= 8n
  }
  return Uint8Array.from(out)
}

export function asm(...items: AsmItem[]): Uint8Array {
  const out: number[] = []
  const labels = new Map<string, number>()
  const refs: { at: number; label: string }[] = []
  for (const item of items) {
    if (typeof item === 'string') {
      const op = OPCODES[item]
      if (op === undefined) throw new Error(`asm: unknown opcode ${item}`)
      out.push(op)
    } else if ('push' in item) {
      const bytes = pushBytes(item.push)
      if (bytes.length === 0) out.push(OPCODES['PUSH0']!)
      else {
        if (bytes.length > 32) throw new Error('asm: push longer than 32 bytes')
        out.push(0x5f + bytes.length, ...bytes)
      }
    } else if ('label' in item) {
      if (labels.has(item.label)) throw new Error(`asm: duplicate label ${item.label}`)
      labels.set(item.label, out.length)
      out.push(OPCODES['JUMPDEST']!)
    } else if ('ref' in item) {
      out.push(0x61)
      refs.push({ at: out.length, label: item.ref })
      out.push(0, 0)
    } else {
      out.push(...item.raw)
    }
  }
  for (const { at, label } of refs) {
    const target = labels.get(label)
    if (target === undefined) throw new Error(`asm: undefined label ${label}`)
    out[at] = (target >> 8) & 0xff
    out[at + 1] = target & 0xff
  }
  return Uint8Array.from(out)
}

/** Initcode that runs `prelude`, then returns `runtime` as the deployed code. */
export function initcode(runtime: Uint8Array, prelude: Uint8Array = new Uint8Array(0)): Uint8Array {
  // PUSH2 len, PUSH2 offset, PUSH0, CODECOPY, PUSH2 len, PUSH0, RETURN: 13 bytes.
  const offset = prelude.length + 13
  const len = runtime.length
  const hi = (n: number): number => (n >> 8) & 0xff
  const lo = (n: number): number => n & 0xff
  const body = Uint8Array.from([0x61, hi(len), lo(len), 0x61, hi(offset), lo(offset), 0x5f, 0x39, 0x61, hi(len), lo(len), 0x5f, 0xf3])
  const out = new Uint8Array(offset + len)
  out.set(prelude, 0)
  out.set(body, prelude.length)
  out.set(runtime, offset)
  return out
}
