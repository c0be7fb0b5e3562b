"""PyTorch Geometric side of bench/gnn_bench.cc: the same model as sf_gnn's trainer built from
PyG 2.8.1's GATv2Conv, trained the same way on the same snapshots, timed per epoch.

  gnn_pyg.py --data DATA.json [--runs 3] [--threads 1]

DATA.json (written by gnn_bench) holds the snapshots (x, src, dst, edge_weight,
next_return), the split and the training settings. Run with the PyG venv's python
(src/gnn/pyg_env). Prints one JSON line: per run, the median seconds per epoch, the CPU seconds of the whole
training (batching and set-up included) over the epochs, and the last epoch's validation
accuracy.

The model (as sf::gnn::NodeModel): features standardised with the training set's mean and
(population) std; per layer dropout, GATv2Conv (add_self_loops, edge_dim 1 with edge
weights; every layer but the last concatenates its heads, the last averages them), ELU; then
dropout and a linear head (2 logits). One epoch: one full-batch Adam step over the training
snapshots as one disjoint-union graph (cross entropy on next_return > 0), then the
validation loss, accuracy and F1 without gradients; the wall time of both is the epoch's.
"""
import argparse
import json
import statistics
import time

import torch
import torch.nn.functional as F
import torch_geometric
from torch_geometric.nn import GATv2Conv


class Net(torch.nn.Module):
    def __init__(self, in_dim, layers, hidden, heads, dropout, slope, edge_weight, self_loops):
        super().__init__()
        self.dropout = dropout
        self.edge_weight = edge_weight
        self.convs = torch.nn.ModuleList()
        d = in_dim
        for layer in range(layers):
            last = layer == layers - 1
            self.convs.append(GATv2Conv(d, hidden, heads=heads, concat=not last,
                                        negative_slope=slope, dropout=dropout,
                                        add_self_loops=self_loops,
                                        edge_dim=1 if edge_weight else None))
            d = hidden if last else hidden * heads
        self.head = torch.nn.Linear(hidden, 2)
        self.register_buffer("feature_mean", torch.zeros(in_dim))
        self.register_buffer("feature_std", torch.ones(in_dim))

    def forward(self, x, edge_index, edge_weight):
        h = (x - self.feature_mean) / self.feature_std
        ea = edge_weight.view(-1, 1) if self.edge_weight else None
        for conv in self.convs:
            h = F.dropout(h, p=self.dropout, training=self.training)
            h = F.elu(conv(h, edge_index, ea))
        h = F.dropout(h, p=self.dropout, training=self.training)
        return self.head(h)


def batch(snaps):
    xs, srcs, dsts, ws, ys = [], [], [], [], []
    offset = 0
    for s in snaps:
        n = s["num_nodes"]
        xs.append(torch.tensor(s["features"], dtype=torch.float32).view(n, -1))
        srcs.append(torch.tensor(s["src"], dtype=torch.long) + offset)
        dsts.append(torch.tensor(s["dst"], dtype=torch.long) + offset)
        ws.append(torch.tensor(s["edge_weight"], dtype=torch.float32))
        ys.append((torch.tensor(s["next_return"], dtype=torch.float64) > 0).long())
        offset += n
    edge_index = torch.stack([torch.cat(srcs), torch.cat(dsts)])
    return torch.cat(xs), edge_index, torch.cat(ws), torch.cat(ys)


def scores(logits, y):
    pred = logits.argmax(1)
    acc = (pred == y).double().mean().item()
    tp = ((pred == 1) & (y == 1)).sum().item()
    fp = ((pred == 1) & (y == 0)).sum().item()
    fn = ((pred == 0) & (y == 1)).sum().item()
    f1 = 0.0 if 2 * tp + fp + fn == 0 else 2 * tp / (2 * tp + fp + fn)
    return acc, f1


def run(data, seed):
    c = data["config"]
    cpu0 = time.process_time()
    torch.manual_seed(seed)
    snaps = data["samples"]
    n_train = data["train_samples"]
    xt, eit, ewt, yt = batch(snaps[:n_train])
    xv, eiv, ewv, yv = batch(snaps[n_train:])
    model = Net(xt.size(1), c["layers"], c["hidden"], c["heads"], c["dropout"],
                c["negative_slope"], c["use_edge_weight"], c["self_loops"])
    with torch.no_grad():
        model.feature_mean.copy_(xt.mean(0))
        sd = xt.std(0, unbiased=False)
        model.feature_std.copy_(torch.where(sd > 1e-12, sd, torch.ones_like(sd)))
    opt = torch.optim.Adam(model.parameters(), lr=c["lr"], weight_decay=c["weight_decay"])
    seconds, val_acc = [], 0.0
    for _ in range(c["epochs"]):
        t0 = time.perf_counter()
        model.train()
        opt.zero_grad()
        out = model(xt, eit, ewt)
        loss = F.cross_entropy(out, yt)
        loss.backward()
        opt.step()
        train_loss = loss.item()
        scores(out.detach(), yt)
        model.eval()
        with torch.no_grad():
            vout = model(xv, eiv, ewv)
            val_loss = F.cross_entropy(vout, yv).item()
            val_acc, _ = scores(vout, yv)
        seconds.append(time.perf_counter() - t0)
        assert train_loss == train_loss and val_loss == val_loss, "loss is NaN"
    cpu = (time.process_time() - cpu0) / c["epochs"]
    return {"seconds_per_epoch": statistics.median(seconds), "cpu_seconds_per_epoch": cpu,
            "val_accuracy": val_acc}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", required=True)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    with open(a.data) as f:
        data = json.load(f)
    runs = [run(data, data["config"]["seed"]) for _ in range(a.runs)]
    print(json.dumps({"torch": torch.__version__, "torch_geometric": torch_geometric.__version__,
                      "threads": torch.get_num_threads(), "runs": runs}))


if __name__ == "__main__":
    main()
