/**
 * Jump-destination analysis, once per contract code instead of once per call.
 *
 * `@ethereumjs/evm` analyses a contract's code (valid JUMPDESTs, PUSH immediates as bigints, an
 * opcode table entry per byte) at the first JUMP of every call, and keeps nothing: a call of a
 * few hundred opcodes into a 20 KB contract scans all 20 KB. On the 47 mainnet blocks this
 * analysis took about as long as executing the opcodes themselves. The analysis is a pure
 * function of the code bytes and of the EVM's opcode table (its hardfork and EIPs), and the
 * interpreter only reads what it returns; so it is cached per (opcode table, code bytes) and
 * handed back as is. Code bytes are never changed in place (state values are new bytes when
 * new), and the cache is keyed by the bytes' identity, so nothing is ever served for other code.
 *
 * The library has no option for it: the interpreter is not exported. Its prototype is taken
 * from a live instance once per thread (a probe EVM runs one STOP through a wrapped opcode
 * entry) and its analysis method wrapped; the wrapper caches only for EVMs given to
 * `cacheJumpAnalysis` (the engine's executors), so every other EVM in the process (the
 * sequential check, the benchmark's baselines) runs the library's code unchanged. If the
 * library's shape ever differs from what this expects, nothing is wrapped and execution is the
 * library's own (slower, identical); `jumpAnalysisCache()` says which.
 */
import { createEVM } from '@ethereumjs/evm'

interface Analysis {
  jumps: Uint8Array
  pushes: Record<number, bigint>
  opcodesCached: unknown[]
}

interface InterpreterLike {
  _evm: object
  _getValidJumpDestinations(code: Uint8Array): Analysis
}

interface OpcodeEntry {
  opHandler: (runState: { interpreter: unknown }, common: unknown) => unknown
}

export interface JumpAnalysisCacheState {
  /** 'on': the interpreter's analysis is wrapped; 'unavailable': the library's shape differs. */
  status: 'on' | 'unavailable'
  /** Analyses served from the cache and computed, in this thread, for enabled EVMs. */
  hits: number
  misses: number
}

const state: JumpAnalysisCacheState = { status: 'unavailable', hits: 0, misses: 0 }
const enabled = new WeakSet<object>()
/** Per opcode table (replaced by the EVM when its hardfork changes): analyses by code bytes. */
const byTable = new WeakMap<object, WeakMap<Uint8Array, Analysis>>()
let installing: Promise<void> | undefined

async function install(): Promise<void> {
  try {
    const probe = (await createEVM()) as unknown as { _opcodeMap?: OpcodeEntry[]; runCode(opts: { code: Uint8Array; gasLimit: bigint }): Promise<unknown> }
    const table = probe._opcodeMap
    const stop = table?.[0x00]
    if (table === undefined || stop === undefined || typeof stop.opHandler !== 'function') return
    let found: unknown
    table[0x00] = { ...stop, opHandler: (runState, common) => ((found = runState.interpreter), stop.opHandler(runState, common)) }
    await probe.runCode({ code: Uint8Array.of(0x00), gasLimit: 100n })
    const proto = found === undefined ? undefined : (Object.getPrototypeOf(found) as Partial<InterpreterLike> | null)
    const analyse = proto?._getValidJumpDestinations
    if (proto == null || typeof analyse !== 'function') return
    proto._getValidJumpDestinations = function (this: InterpreterLike, code: Uint8Array): Analysis {
      const evm = this._evm
      if (!enabled.has(evm)) return analyse.call(this, code)
      const opcodeTable = (evm as { _opcodeMap: object })._opcodeMap
      let analyses = byTable.get(opcodeTable)
      if (analyses === undefined) {
        analyses = new WeakMap()
        byTable.set(opcodeTable, analyses)
      }
      let analysis = analyses.get(code)
      if (analysis === undefined) {
        analysis = analyse.call(this, code)
        analyses.set(code, analysis)
        state.misses++
      } else {
        state.hits++
      }
      return analysis
    }
    state.status = 'on'
  } catch {
    // The library's internals differ from what this expects: run without the cache.
  }
}

/** Cache jump analyses for this EVM (a VM's `vm.evm`). Safe to call for any number of EVMs. */
export async function cacheJumpAnalysis(evm: object): Promise<void> {
  installing ??= install()
  await installing
  enabled.add(evm)
}

/** Whether the cache is in place in this thread, and its counts. */
export function jumpAnalysisCache(): Readonly<JumpAnalysisCacheState> {
  return { ...state }
}
