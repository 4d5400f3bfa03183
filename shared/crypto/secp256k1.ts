/**
 * Native libsecp256k1 (npm `secp256k1` 5, linux-x64 prebuilt) behind `@ethereumjs/common`'s
 * `customCrypto`. Pure-JS recovery costs milliseconds per transaction; this is ~35x faster.
 * Falls back to the pure-JS path (with a warning available through `nativeSecp256k1Loaded`)
 * when the native binding cannot load, so every machine runs the same code.
 */
import { createRequire } from 'node:module'

import type { CustomCrypto } from '@ethereumjs/common'

import { keccak256 } from './keccak.ts'

interface NativeSecp256k1 {
  ecdsaRecover(sig: Uint8Array, recid: number, msg32: Uint8Array, compressed: boolean): Uint8Array
  ecdsaSign(msg32: Uint8Array, privateKey: Uint8Array): { signature: Uint8Array; recid: number }
  publicKeyCreate(privateKey: Uint8Array, compressed: boolean): Uint8Array
}

const require = createRequire(import.meta.url)

function loadNative(): NativeSecp256k1 | undefined {
  try {
    // `bindings` is the native build; the package's index silently falls back to elliptic.js.
    return require('secp256k1/bindings') as NativeSecp256k1
  } catch {
    return undefined
  }
}

const native = loadNative()

export const nativeSecp256k1Loaded = native !== undefined

function calculateRecovery(v: bigint, chainId: bigint | undefined): number {
  if (v === 0n || v === 1n) return Number(v)
  if (chainId === undefined) return Number(v - 27n)
  return Number(v - (chainId * 2n + 35n))
}

function leftPad32(bytes: Uint8Array): Uint8Array {
  if (bytes.length === 32) return bytes
  if (bytes.length > 32) throw new Error('signature component longer than 32 bytes')
  const out = new Uint8Array(32)
  out.set(bytes, 32 - bytes.length)
  return out
}

function ecrecover(msgHash: Uint8Array, v: bigint, r: Uint8Array, s: Uint8Array, chainId?: bigint): Uint8Array {
  const recovery = calculateRecovery(v, chainId)
  if (recovery !== 0 && recovery !== 1) throw new Error('Invalid signature v value')
  const sig = new Uint8Array(64)
  sig.set(leftPad32(r), 0)
  sig.set(leftPad32(s), 32)
  // Throws on an invalid signature (r or s out of range, point not on curve).
  return native!.ecdsaRecover(sig, recovery, msgHash, false).slice(1)
}

/** Returns the 65-byte "recovered" format noble uses: recovery byte, then r and s. */
function ecsign(msgHash: Uint8Array, privateKey: Uint8Array): Uint8Array {
  const { signature, recid } = native!.ecdsaSign(msgHash, privateKey)
  const out = new Uint8Array(65)
  out[0] = recid
  out.set(signature, 1)
  return out
}

/** customCrypto for Common: native ecrecover and signing where available, noble keccak. */
export function createCustomCrypto(): CustomCrypto {
  const crypto: CustomCrypto = { keccak256 }
  if (native !== undefined) {
    crypto.ecrecover = ecrecover
    crypto.ecsign = ecsign as unknown as NonNullable<CustomCrypto['ecsign']>
  }
  return crypto
}

/** Uncompressed public key without the 0x04 prefix (64 bytes) → 20-byte address. */
export function publicKeyToAddress(publicKey64: Uint8Array): Uint8Array {
  return keccak256(publicKey64).slice(12)
}

export function privateKeyToAddress(privateKey: Uint8Array): Uint8Array {
  if (native === undefined) throw new Error('native secp256k1 not available')
  return publicKeyToAddress(native.publicKeyCreate(privateKey, false).slice(1))
}
