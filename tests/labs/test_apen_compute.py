"""Unit tests for the piecewise-equivariance lab's computation (paperscope.labs.apen).

Oracles: scipy's minimum spanning tree and the full radius graph (every pair within r) for the
batched single-linkage partition; per-point loops for the voxel grid, the sub-partition test and
the per-cluster layer; exact identities (rigid motions keep intra-part distances, the identity
motion changes nothing, the refinement lemma). The claims are declared in
``paperscope.claims.apen`` (checked by tests/test_claims.py).
"""

import json

import numpy as np
import pytest
import torch
from scipy.sparse.csgraph import connected_components, minimum_spanning_tree
from scipy.spatial.distance import pdist, squareform

from paperscope.labs import apen

F64 = torch.float64


def scenes(T=6, K=3, m=30, gap=1.0, translation=0.3, rotation=np.pi, seed=0):
    return apen.make_scenes(T, K, m, gap, translation, rotation, np.random.default_rng(seed))


def same_partition(a, b) -> bool:
    return np.array_equal(apen.canonical(np.asarray(a)), apen.canonical(np.asarray(b)))


def last_frame(**overrides):
    return list(apen.run(apen.Params(**{"device": "cpu", "trials": 6, "points": 30, **overrides})))[-1]


# --- scenes and motions -----------------------------------------------------------------------


@pytest.mark.parametrize("K", [2, 3, 4, 6])
def test_neighbouring_centres_are_two_plus_gap_apart(K):
    c = apen.part_centres(K, 0.7)
    gaps = np.linalg.norm(c - np.roll(c, 1, axis=0), axis=1)
    np.testing.assert_allclose(gaps if K > 2 else gaps[:1], 2.7)
    assert np.allclose(c[:, 2], 0)


def test_the_motion_is_rigid_on_each_part():
    s = scenes()
    for t in range(len(s.X)):
        for k in range(3):
            part = s.z == k
            np.testing.assert_allclose(pdist(s.gX[t, part]), pdist(s.X[t, part]), atol=1e-12)
            R = s.R[t, k]
            np.testing.assert_allclose(R @ R.T, np.eye(3), atol=1e-12)
            assert np.linalg.det(R) == pytest.approx(1.0)
            np.testing.assert_allclose(s.c[t, k], s.X[t, part].mean(0))


def test_zero_rotation_magnitude_gives_the_identity_rotation():
    s = scenes(rotation=0.0)
    np.testing.assert_allclose(s.R, np.broadcast_to(np.eye(3), s.R.shape), atol=1e-15)


# --- partition predictors against brute force ----------------------------------------------------


def test_spanning_trees_match_scipy():
    s = scenes(T=4)
    for x, (_, _, w) in zip(s.X, apen.spanning_trees(s.X, chunk=3)):
        reference = minimum_spanning_tree(squareform(pdist(x)))
        assert len(w) == len(x) - 1
        assert w.sum() == pytest.approx(reference.sum(), rel=1e-12)


@pytest.mark.parametrize("r", [0.05, 0.2, 0.6, 1.2, 3.0])
def test_radius_graph_partition_is_the_full_radius_graphs_components(r):
    s = scenes(T=4, gap=0.3)
    labels = apen.radius_graph_labels(apen.spanning_trees(s.X), s.X.shape[1], r)
    for x, row in zip(s.X, labels):
        _, reference = connected_components(squareform(pdist(x)) < r, directed=False)
        assert same_partition(row, reference)
    assert len(np.unique(labels)) == sum(len(np.unique(row)) for row in labels)  # unique across clouds


def test_voxel_cells_match_a_per_point_dictionary():
    s = scenes(T=3)
    r = 0.4
    labels = apen.voxel_labels(s.X, r)
    for x, row in zip(s.X, labels):
        cells = {}
        reference = [cells.setdefault(tuple(np.floor(p / r).astype(int)), len(cells)) for p in x]
        assert same_partition(row, reference)


def test_subpartition_test_matches_a_loop():
    rng = np.random.default_rng(1)
    z = np.repeat(np.arange(3), 5)
    labels = rng.integers(0, 6, size=(50, 15)) + 6 * np.arange(50)[:, None]
    got = apen.is_subpartition(labels, z)
    expected = [all(len(set(z[row == c])) == 1 for c in set(row)) for row in labels]
    assert got.tolist() == expected
    assert apen.is_subpartition(z[None] * 1, z).all()  # Z ⊑ Z


def test_kmeans_with_one_centre_per_point_gives_singletons():
    s = scenes(T=2, m=10)
    X = torch.as_tensor(s.X, dtype=F64)
    n = X.shape[1]
    init = torch.stack([torch.randperm(n) for _ in range(2)])
    labels = apen.kmeans_labels(X, np.array([n, n]), init)
    assert all(len(np.unique(row)) == n for row in labels)


def test_canonical_ids_number_clusters_by_first_appearance():
    assert apen.canonical(np.array([7, 7, 3, 9, 3])).tolist() == [0, 0, 1, 2, 1]


# --- the per-cluster layer -------------------------------------------------------------------------


def reference_layer(x, labels, ab):
    out = np.zeros_like(x)
    for i in range(len(x)):
        members = np.flatnonzero(labels == labels[i])
        d2 = ((x[members] - x[i]) ** 2).sum(-1)
        w = np.ones_like(d2) if ab is None else 1 + np.tanh(ab[0] * d2 + ab[1])
        out[i] = (w[:, None] * (x[members] - x[i])).sum(0) / w.sum()
    return out


@pytest.mark.parametrize("ab", [None, (0.7, -0.3)])
def test_cluster_layer_matches_a_per_point_loop(ab):
    s = scenes(T=2, m=8)
    labels = apen.radius_graph_labels(apen.spanning_trees(s.X), s.X.shape[1], 0.8)
    X = torch.as_tensor(s.X, dtype=F64)
    got = apen.network_outputs(X, labels, ab, chunk=1).numpy()
    for t in range(2):
        np.testing.assert_allclose(got[t], reference_layer(s.X[t], labels[t], ab), atol=1e-13)
    dense = apen.cluster_layer(X, torch.as_tensor(labels), None).numpy()
    np.testing.assert_allclose(dense, got if ab is None else dense, atol=1e-13)


def test_refinement_lemma_a_subpartition_network_is_equivariant_to_the_true_parts():
    """Halve every true part (a fixed sub-partition Z' ⊑ Z): the layer built on Z' commutes with
    every Z-piecewise motion, to float64 round-off."""
    s = scenes(T=5)
    n = s.X.shape[1]
    finer = s.z * 2 + (np.arange(n) % 2)
    labels = np.broadcast_to(finer, (5, n)) + 6 * np.arange(5)[:, None]
    for ab in (None, (0.5, 0.1)):
        Y = apen.network_outputs(torch.as_tensor(s.X), labels, ab, chunk=5)
        gY = apen.network_outputs(torch.as_tensor(s.gX), labels, ab, chunk=5)
        err = apen.errors(Y, gY, torch.as_tensor(s.R), torch.as_tensor(s.z), torch.zeros_like(Y), np.zeros(5, bool))
        assert err.ee_trials().max() < 1e-20


# --- the run -------------------------------------------------------------------------------------------


def test_oracle_is_exactly_equivariant_and_solves_the_task():
    f = last_frame()
    o = apen.PREDICTORS.index("oracle")
    assert np.nanmax(f.ee_trials[o]) < 1e-20 and np.nanmax(f.violated[o]) == 0
    assert np.nanmax(f.task_mse[o]) < 1e-20


def test_radius_graph_is_exact_whenever_both_partitions_are_subpartitions():
    f = last_frame(gap=0.3)
    g = apen.PREDICTORS.index("radius_graph")
    safe = f.violated[g] == 0
    assert safe.any() and (~safe).any()
    assert f.ee_trials[g][safe].max() < 1e-20
    # the lab's bound: mean EE ≤ P(violation) · max_t EE_t at every radius
    assert np.all(f.ee[g] <= f.p_violation[g] * f.ee_max[g] + 1e-20)


def test_the_voxel_grid_breaks_equivariance_even_inside_the_parts():
    f = last_frame()
    v = apen.PREDICTORS.index("voxel_grid")
    safe = f.violated[v] == 0
    assert safe.any() and f.ee_trials[v][safe].max() > 1e-3


def test_the_identity_motion_changes_nothing_for_any_predictor():
    f = last_frame(translation=0.0, rotation=0.0)
    assert np.nanmax(f.ee_trials) < 1e-20
    # a predictor's violations are then the same for X and g·X: radius graph safe up to the gap
    g = apen.PREDICTORS.index("radius_graph")
    assert f.p_violation[g][np.array(apen.RADII) < 1.0].max() == 0


def test_frames_stream_and_the_last_carries_the_public_metrics():
    frames = list(apen.run(apen.Params(device="cpu", trials=3, points=20)))
    assert frames[0].step == 0 and np.isnan(frames[0].ee).all() and frames[0].metrics is None
    assert [f.step for f in frames] == list(range(len(apen.RADII) + 2))
    m = frames[-1].metrics
    for name in ("equivariance_error", "violation_probability", "task_mse"):
        assert name in m and all(name in m["by_method"][p] for p in apen.PREDICTORS)
    assert m["equivariance_error"] == m["by_method"]["radius_graph"]["equivariance_error"]
    assert len(m["sweep"]["kmeans"]["task_mse"]) == len(apen.RADII)
    json.dumps(m)  # what --json writes


def test_the_weighted_network_uses_seeded_phi():
    assert apen.phi_weights("weighted", 3) == apen.phi_weights("weighted", 3)
    assert apen.phi_weights("centroid", 3) is None
    m = last_frame(network="weighted", trials=3).metrics
    assert m["by_method"]["oracle"]["equivariance_error"] < 1e-20
