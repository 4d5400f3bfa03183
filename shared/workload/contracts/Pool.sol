// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

interface IToken {
    function transfer(address to, uint256 value) external returns (bool);
    function transferFrom(address from, address to, uint256 value) external returns (bool);
}

/// A constant-product pool (x * y = k, 0.3% fee), Uniswap-V2 style swap pulling the input with
/// transferFrom. Storage layout (relied on by the workload's genesis):
/// slot 0 token0, slot 1 token1, slot 2 reserve0, slot 3 reserve1.
contract Pool {
    IToken public token0;
    IToken public token1;
    uint256 public reserve0;
    uint256 public reserve1;

    event Swap(address indexed trader, bool zeroForOne, uint256 amountIn, uint256 amountOut);

    function swap(uint256 amountIn, bool zeroForOne, uint256 minOut) external returns (uint256 amountOut) {
        (IToken tokenIn, IToken tokenOut, uint256 reserveIn, uint256 reserveOut) =
            zeroForOne ? (token0, token1, reserve0, reserve1) : (token1, token0, reserve1, reserve0);
        uint256 amountInWithFee = amountIn * 997;
        amountOut = (amountInWithFee * reserveOut) / (reserveIn * 1000 + amountInWithFee);
        require(amountOut >= minOut && amountOut > 0, "slippage");
        require(tokenIn.transferFrom(msg.sender, address(this), amountIn), "pull");
        require(tokenOut.transfer(msg.sender, amountOut), "push");
        if (zeroForOne) {
            reserve0 = reserveIn + amountIn;
            reserve1 = reserveOut - amountOut;
        } else {
            reserve1 = reserveIn + amountIn;
            reserve0 = reserveOut - amountOut;
        }
        emit Swap(msg.sender, zeroForOne, amountIn, amountOut);
    }
}
