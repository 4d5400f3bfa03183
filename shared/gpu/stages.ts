/**
 * Pipeline entry points of GPU stages that live in other folders' code paths.
 *
 * `trieKeccak`: the state root's node hashing (shared/trie/world-state.ts `applyBlock`), a trie
 * level at a time across all touched tries. Undefined where the `keccak` stage of the given
 * context would not run on the GPU (no context, or every CPU backend under `auto`): the trie
 * then hashes as it always did.
 */
import { keccak256 } from '../crypto/keccak.ts'
import { bytesEqual } from '../hex.ts'
import { keccakBatchGpu } from './kernels/keccak.ts'

import type { GpuContext } from './context.ts'

export type HashMany = (messages: Uint8Array[]) => Promise<Uint8Array[]>

/** Batched keccak through a context's gate: the kernel on batches it takes, the CPU hasher otherwise. */
export function keccakStage(gpu: GpuContext): HashMany {
  return async (messages) => {
    const outcome = await gpu.runStage('keccak', {
      size: messages.length,
      gpu: (backend) => keccakBatchGpu(backend, messages),
      cpu: () => messages.map((m) => keccak256(m)),
      agree: (a, b) => a.length === b.length && a.every((h, i) => bytesEqual(h, b[i]!)),
    })
    return outcome.result
  }
}

export async function trieKeccak(gpu: GpuContext | undefined): Promise<HashMany | undefined> {
  if (gpu === undefined) return undefined
  return (await gpu.stageWouldUseGpu('keccak', Number.MAX_SAFE_INTEGER)) ? keccakStage(gpu) : undefined
}
