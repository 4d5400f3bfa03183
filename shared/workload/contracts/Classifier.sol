// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

/// An on-chain classifier: scores a feature vector with a quantized model through parevm's AI
/// precompile (README "AI from contracts") and records the winning label per caller.
/// Storage layout (relied on by the workload's genesis): slot 0 model, slot 1 labelOf,
/// slot 2 scoreOf, slot 3 countOf.
contract Classifier {
    /// The model account (its code is the model; see shared/ai/model.ts).
    address public model;
    mapping(address => uint256) public labelOf;
    mapping(address => int256) public scoreOf;
    mapping(uint256 => uint256) public countOf;

    /// The AI precompile: input abi.encode(address model, int8[] input), output int32[].
    address private constant AI = address(uint160(0xa1000));

    event Classified(address indexed who, uint256 label, int256 score);

    function classify(int8[] calldata features) external returns (uint256 label) {
        int256 score;
        (label, score) = infer(features);
        labelOf[msg.sender] = label;
        scoreOf[msg.sender] = score;
        emit Classified(msg.sender, label, score);
    }

    /// Like classify, and counts labels: every call also writes a shared counter (a hot key).
    function classifyAndCount(int8[] calldata features) external returns (uint256 label) {
        int256 score;
        (label, score) = infer(features);
        labelOf[msg.sender] = label;
        scoreOf[msg.sender] = score;
        countOf[label] += 1;
        emit Classified(msg.sender, label, score);
    }

    /// The model's outputs for `features`, and the arg-max (first wins ties).
    function infer(int8[] calldata features) public view returns (uint256 label, int256 best) {
        (bool ok, bytes memory out) = AI.staticcall(abi.encode(model, features));
        require(ok, "inference failed");
        int32[] memory logits = abi.decode(out, (int32[]));
        require(logits.length > 0, "empty model output");
        best = logits[0];
        for (uint256 i = 1; i < logits.length; i++) {
            if (logits[i] > best) {
                best = logits[i];
                label = i;
            }
        }
    }
}
