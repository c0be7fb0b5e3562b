"""The Python side of src/gnn's reference test (gnn_reference_test.cc).

  gnn_reference.py layer-cases OUT.json
      (run with the PyG venv's python, src/gnn/pyg_env) writes GATv2Conv cases: inputs,
      weights, an output gradient and PyTorch Geometric 2.8.1's GATv2Conv output and
      gradients (w.r.t. x, edge_attr and every parameter), in float32 and float64. Inputs
      and weights come from seeded generators (the same file every run); every number is a
      float64 in the JSON (float32 values exactly).

  gnn_reference.py torchscript ARCHIVE IN.json OUT.json
      (run with /usr/bin/python3, Debian's torch) loads a TorchScript archive that
      sf::gnn::torchscript_bytes() wrote with torch.jit.load, runs it on IN.json's x,
      edge_index and edge_weight, and writes its output and attributes.
"""
import copy
import json
import sys

import torch


def tensor_json(t):
    t = t.detach().to(torch.float64).contiguous()
    return {"shape": list(t.shape), "data": t.view(-1).tolist()}


def from_json(d, dtype):
    return torch.tensor(d["data"], dtype=dtype).view(d["shape"])


# A graph with the awkward parts: existing self loops (2->2, 5->5), a duplicated edge
# (0->1 twice), a node with no incoming edge (6), a node with only its own loop (5).
EDGES = [(0, 1), (0, 1), (1, 0), (2, 2), (3, 2), (4, 2), (1, 3), (6, 3), (0, 4),
         (3, 4), (5, 5), (2, 0), (6, 0), (4, 1)]
NUM_NODES, IN_CHANNELS, OUT_CHANNELS = 7, 5, 3


def layer_cases():
    cases = []
    for heads in (1, 2, 4):
        for concat in (True, False):
            for edge_dim in (None, 2):
                for self_loops in (True, False):
                    cases.append(dict(heads=heads, concat=concat, edge_dim=edge_dim,
                                      edge_attr_1d=False, self_loops=self_loops))
    # Edge weights as the trainer passes them: one value per edge, a 1-D edge_attr.
    for concat, self_loops in ((True, True), (False, False)):
        cases.append(dict(heads=2, concat=concat, edge_dim=1, edge_attr_1d=True,
                          self_loops=self_loops))
    return cases


def run_layer_cases(out_path):
    from torch_geometric.nn import GATv2Conv
    import torch_geometric

    edge_index = torch.tensor(EDGES, dtype=torch.long).t().contiguous()
    out_cases = []
    for k, case in enumerate(layer_cases()):
        g = torch.Generator().manual_seed(1000 + k)
        conv = GATv2Conv(IN_CHANNELS, OUT_CHANNELS, heads=case["heads"], concat=case["concat"],
                         negative_slope=0.2, dropout=0.3, add_self_loops=case["self_loops"],
                         edge_dim=case["edge_dim"], bias=True, share_weights=False)
        params = {}
        with torch.no_grad():
            for name, p in conv.named_parameters():
                p.copy_(torch.randn(p.shape, generator=g) * 0.5)
                params[name] = tensor_json(p)
        x = torch.randn(NUM_NODES, IN_CHANNELS, generator=g)
        edge_attr = None
        if case["edge_dim"] is not None:
            shape = (len(EDGES),) if case["edge_attr_1d"] else (len(EDGES), case["edge_dim"])
            edge_attr = torch.randn(shape, generator=g)
        out_dim = OUT_CHANNELS * (case["heads"] if case["concat"] else 1)
        grad_out = torch.randn(NUM_NODES, out_dim, generator=g)
        expected = {}
        for dtype, dname in ((torch.float32, "float32"), (torch.float64, "float64")):
            c = copy.deepcopy(conv).to(dtype)
            c.eval()  # dropout (0.3) is off in eval mode, as on the C++ side
            xd = x.detach().clone().to(dtype).requires_grad_()
            ead = None if edge_attr is None else edge_attr.detach().clone().to(dtype).requires_grad_()
            out = c(xd, edge_index, ead)
            (out * grad_out.to(dtype)).sum().backward()
            grads = {"x": tensor_json(xd.grad)}
            if ead is not None:
                grads["edge_attr"] = tensor_json(ead.grad)
            for name, p in c.named_parameters():
                grads[name] = tensor_json(p.grad)
            expected[dname] = {"out": tensor_json(out), "grad": grads}
        out_cases.append(dict(case, in_channels=IN_CHANNELS, out_channels=OUT_CHANNELS,
                              num_nodes=NUM_NODES, negative_slope=0.2, dropout=0.3,
                              edge_index=edge_index.tolist(), x=tensor_json(x),
                              edge_attr=None if edge_attr is None else tensor_json(edge_attr),
                              params=params, grad_out=tensor_json(grad_out),
                              expected=expected))
    with open(out_path, "w") as f:
        json.dump({"pyg_version": torch_geometric.__version__, "torch_version": torch.__version__,
                   "cases": out_cases}, f)


def run_torchscript(archive, in_path, out_path):
    with open(in_path) as f:
        inp = json.load(f)
    m = torch.jit.load(archive)
    m.eval()
    x = from_json(inp["x"], torch.float32)
    edge_index = torch.tensor(inp["edge_index"], dtype=torch.long)
    edge_weight = None
    if inp.get("edge_weight") is not None:
        edge_weight = from_json(inp["edge_weight"], torch.float32)
    with torch.no_grad():
        out = m(x, edge_index, edge_weight)
    with open(out_path, "w") as f:
        json.dump({"torch_version": torch.__version__, "out": tensor_json(out),
                   "task": m.task, "feature_dim": m.feature_dim, "layers": m.layers,
                   "hidden": m.hidden, "heads": m.heads,
                   "use_edge_weight": m.use_edge_weight}, f)


def main(argv):
    if len(argv) == 3 and argv[1] == "layer-cases":
        run_layer_cases(argv[2])
    elif len(argv) == 5 and argv[1] == "torchscript":
        run_torchscript(argv[2], argv[3], argv[4])
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
