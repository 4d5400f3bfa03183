/** JSON-RPC 2.0 errors with the codes and texts that Ethereum clients map. */

export const RPC_PARSE_ERROR = -32700
export const RPC_INVALID_REQUEST = -32600
export const RPC_METHOD_NOT_FOUND = -32601
export const RPC_INVALID_PARAMS = -32602
export const RPC_INTERNAL_ERROR = -32603
/** geth's code for refused transactions and failed calls. */
export const RPC_SERVER_ERROR = -32000
/** A limit was exceeded (log range, result size): as Infura and Alchemy answer. */
export const RPC_LIMIT_EXCEEDED = -32005
/** eth_call / eth_estimateGas reverted: the revert data is the error's data. */
export const RPC_EXECUTION_REVERTED = 3

export class RpcError extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly data?: unknown,
  ) {
    super(message)
    this.name = 'RpcError'
  }
}

/** The answer viem and ethers fall back on: a method this node does not serve. */
export function methodNotAvailable(method: string, why?: string): RpcError {
  return new RpcError(RPC_METHOD_NOT_FOUND, `the method ${method} does not exist/is not available${why === undefined ? '' : ` (${why})`}`)
}

export function invalidParam(index: number, name: string, problem: string): RpcError {
  return new RpcError(RPC_INVALID_PARAMS, `invalid argument ${index} (${name}): ${problem}`)
}
