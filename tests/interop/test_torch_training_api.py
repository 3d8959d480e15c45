"""torch.optim behaviour around the step: closure, step hooks, zero_grad,
schedulers (torch's own classes, tensor lr), add_param_group mid-run,
clip_grad_norm_ and the fused max_grad_norm, torch.compile'd models -- each
run next to torch.optim doing the same."""

from __future__ import annotations

import copy

import pytest

from .helpers import Data, assert_params_close, loss_of, mlp, torch, train_step

from odyssey_training.interop import torch as ot_torch  # noqa: E402

from torch.optim.optimizer import register_optimizer_step_post_hook  # noqa: E402

RTOL, ATOL = 2e-5, 2e-6
sched = torch.optim.lr_scheduler


def _pair(name="AdamW", seed=0, **kwargs):
    model = mlp(seed)
    twin = copy.deepcopy(model)
    ours = getattr(ot_torch, name)(model.parameters(), **kwargs)
    theirs = getattr(torch.optim, name)(twin.parameters(), foreach=False,
                                        **copy.deepcopy(kwargs))   # tensor lrs: their own
    return (model, ours), (twin, theirs)


def test_closure_runs_with_grad_enabled_and_its_loss_is_returned():
    data = Data(0)
    results = []
    for model, opt in _pair("SGD", lr=0.1, momentum=0.9):
        losses = []
        for step in range(20):
            def closure():
                opt.zero_grad()
                loss = loss_of(model, data, step)
                loss.backward()
                return loss
            with torch.no_grad():               # the step enables grad for the closure
                losses.append(float(opt.step(closure)))
        results.append((model, losses))
    (model, ours), (twin, theirs) = results
    assert ours == pytest.approx(theirs, rel=1e-5)
    assert_params_close(zip(model.parameters(), twin.parameters()), RTOL, ATOL)
    assert _pair("SGD", lr=0.1)[0][1].step() is None


def test_step_hooks_see_what_torchs_see():
    data = Data(1)
    logs = []
    for model, opt in _pair("Adam", lr=1e-2):
        log = []
        first = next(model.parameters())
        pre = opt.register_step_pre_hook(
            lambda o, args, kwargs: log.append(("pre", o is opt and args[0] is opt, args[1:],
                                                kwargs, first.detach().clone())))
        opt.register_step_post_hook(
            lambda o, args, kwargs: log.append(("post", o is opt, first.detach().clone())))
        glob = register_optimizer_step_post_hook(
            lambda o, args, kwargs: log.append(("global", o is opt)))
        try:
            for step in range(3):
                train_step(model, opt, data, step)
            pre.remove()
            train_step(model, opt, data, 3)
        finally:
            glob.remove()
        logs.append(log)
    ours, theirs = logs
    assert [e[:2] for e in ours] == [e[:2] for e in theirs]
    assert [e[0] for e in ours] == ["pre", "post", "global"] * 3 + ["post", "global"]
    for a, b in zip(ours, theirs):
        if a[0] == "pre":
            assert a[2:4] == b[2:4]                  # (args, kwargs) of the call
        if a[0] in ("pre", "post"):                  # the parameter before / after the step
            assert torch.allclose(a[-1], b[-1], rtol=RTOL, atol=ATOL)
    assert not torch.equal(ours[0][-1], ours[1][-1])


def test_a_pre_hook_may_replace_the_arguments():
    (model, opt), _ = _pair("SGD", lr=0.1)
    data, seen = Data(2), []

    def closure():
        opt.zero_grad()
        loss = loss_of(model, data, 0)
        loss.backward()
        seen.append(loss.item())
        return loss
    opt.register_step_pre_hook(lambda o, args, kwargs: ((o,), {"closure": closure}))
    assert opt.step().item() == seen[0]


@pytest.mark.parametrize("set_to_none", [True, False])
def test_zero_grad_as_torch(set_to_none):
    data = Data(3)
    pairs = _pair("RMSprop", lr=1e-2, momentum=0.5)
    for model, opt in pairs:
        for step in range(15):
            opt.zero_grad(set_to_none=set_to_none)
            grads = [p.grad for p in model.parameters()]
            assert all(g is None for g in grads) if set_to_none or not step else all(
                g is not None and not g.any() for g in grads)
            loss_of(model, data, step).backward()
            opt.step()
    (model, _), (twin, _) = pairs
    assert_params_close(zip(model.parameters(), twin.parameters()), RTOL, ATOL)


SCHEDULERS = {
    "StepLR": lambda o: sched.StepLR(o, step_size=7, gamma=0.5),
    "OneCycleLR": lambda o: sched.OneCycleLR(o, max_lr=2 * o.param_groups[0]["lr"],
                                             total_steps=40),
    "CosineAnnealingWarmRestarts": lambda o: sched.CosineAnnealingWarmRestarts(o, T_0=9),
    "Sequential": lambda o: sched.SequentialLR(o, [sched.LinearLR(o, 0.1, total_iters=5),
                                                   sched.ExponentialLR(o, 0.95)], [5]),
    "LambdaLR": lambda o: sched.LambdaLR(o, lambda step: 1 / (1 + step)),
}


@pytest.mark.parametrize("name", ["SGD", "Adam", "RMSprop"])
@pytest.mark.parametrize("which", list(SCHEDULERS))
def test_torch_schedulers_drive_ours_as_torchs(which, name):
    kwargs = {"SGD": {"lr": 0.05, "momentum": 0.9}, "Adam": {"lr": 0.005},
              "RMSprop": {"lr": 0.002, "momentum": 0.5}}[name]
    data = Data(4)
    runs = []
    for model, opt in _pair(name, **kwargs):
        scheduler = SCHEDULERS[which](opt)
        lrs = []
        for step in range(40):
            train_step(model, opt, data, step, scheduler)
            lrs.append([g["lr"] for g in opt.param_groups] + [
                g.get("betas", g.get("momentum")) for g in opt.param_groups])
        runs.append((model, lrs))
    (model, ours), (twin, theirs) = runs
    assert ours == theirs
    assert_params_close(zip(model.parameters(), twin.parameters()), RTOL, ATOL)


def test_reduce_on_plateau_and_a_tensor_lr():
    data = Data(5)
    runs = []
    for model, opt in _pair("Adam", lr=torch.tensor(0.02)):
        plateau = sched.ReduceLROnPlateau(opt, patience=1, factor=0.5)
        for step in range(30):
            train_step(model, opt, data, step)
            plateau.step(1.0 if step < 8 else 0.5)     # a scripted metric: two plateaus
        runs.append((model, float(opt.param_groups[0]["lr"])))
    (model, lr), (twin, torch_lr) = runs
    assert lr == torch_lr < 0.005
    assert_params_close(zip(model.parameters(), twin.parameters()), RTOL, ATOL)


def test_add_param_group_mid_run():
    data = Data(6)
    runs = []
    for index, (model, opt) in enumerate(_pair("Adagrad", seed=6, lr=0.05)):
        cls = type(opt)
        opt = cls(list(model.parameters())[:4], lr=0.05, **({} if index == 0 else
                                                             {"foreach": False}))
        for step in range(20):
            if step == 10:
                opt.add_param_group({"params": list(model.parameters())[4:], "lr": 0.01})
            train_step(model, opt, data, step)
        runs.append(model)
    assert_params_close(zip(runs[0].parameters(), runs[1].parameters()), RTOL, ATOL)


def test_clip_grad_norm_and_the_fused_max_grad_norm():
    data = Data(7)
    (model, ours), (twin, theirs) = _pair("AdamW", lr=1e-2)
    fused_model = copy.deepcopy(model)
    fused = ot_torch.AdamW(fused_model.parameters(), lr=1e-2, max_grad_norm=0.5)
    for step in range(30):
        norms = []
        for m, o, clip in ((model, ours, True), (twin, theirs, True), (fused_model, fused, False)):
            o.zero_grad()
            loss_of(m, data, step).backward()
            if clip:
                norms.append(float(torch.nn.utils.clip_grad_norm_(m.parameters(), 0.5)))
            o.step()
        assert fused.last_grad_norm == pytest.approx(norms[1], rel=1e-5)
    for other in (twin, fused_model):
        assert_params_close(zip(model.parameters(), other.parameters()), RTOL, ATOL)


@pytest.mark.parametrize("backend", ["aot_eager"])    # inductor: the same (checked by
def test_a_compiled_model_trains_as_the_eager_one(backend):   # hand; ~1 min to compile)
    torch._dynamo.reset()
    data = Data(8)
    (model, ours), (twin, theirs) = _pair("AdamW", seed=8, lr=1e-2)
    compiled = torch.compile(model, backend=backend)
    for step in range(10):
        train_step(compiled, ours, data, step)
        train_step(twin, theirs, data, step)
    assert_params_close(zip(model.parameters(), twin.parameters()), 1e-4, 1e-5)


def test_the_profiler_sees_the_step_as_torchs():
    (model, ours), (twin, theirs) = _pair("AdamW", lr=1e-2)
    data = Data(9)
    names = []
    for m, opt in ((model, ours), (twin, theirs)):
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
            train_step(m, opt, data, 0)
        names.append({e.name for e in prof.events() if e.name.startswith("Optimizer.")})
    assert names[0] == names[1] == {"Optimizer.step#AdamW.step", "Optimizer.zero_grad#AdamW.zero_grad"}


def test_a_compiled_training_step_runs_our_step_eagerly():
    torch._dynamo.reset()
    (model, ours), (twin, theirs) = _pair("SGD", seed=10, lr=0.1, momentum=0.9)
    data = Data(10)

    @torch.compile(backend="eager")
    def compiled_step(x, y):
        ours.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        ours.step()
    for step in range(5):
        compiled_step(*data[step])
        train_step(twin, theirs, data, step)
    assert_params_close(zip(model.parameters(), twin.parameters()), RTOL, ATOL)


def _changes(model, opt, step):
    """Edits between steps that the steady-state step must notice: True for those
    that need the full path (new values that keep the kernels do not)."""
    params = list(model.parameters())
    if step == 5:
        opt.param_groups[0]["lr"] *= 0.5                       # a scheduler's new value
    elif step == 6:
        opt.param_groups[0]["betas"] = (0.8, 0.99)              # read by the kernel only
    elif step == 7:
        params[2].data = params[2].data.clone()                 # a tensor's memory moved
    elif step == 9:
        params[1].grad = None                                   # a tensor without gradient
    elif step == 11:
        opt.load_state_dict(copy.deepcopy(opt.state_dict()))    # state reloaded
    elif step == 12:
        opt.param_groups[0]["params"] = params[:-1]             # a new params list, one less
    elif step == 13:
        opt.param_groups[0]["params"][0] = params[0]            # same tensor, same list
    elif step == 14:
        opt.param_groups = list(opt.param_groups)               # the groups list replaced
    elif step == 15 and hasattr(opt, "engine"):
        opt.engine.num_threads += 1                             # another thread count
    elif step == 16:
        opt.hook = opt.register_step_pre_hook(lambda *a: opt.hooked.append(step))
    elif step == 17:
        opt.hook.remove()                                       # no hook left to serve
    elif step == 18:
        opt.param_groups[0]["lr"] = torch.tensor(opt.param_groups[0]["lr"])   # the same value,
    elif step == 19:                                            # but a tensor can change
        opt.param_groups[0]["lr"].mul_(0.5)                     # in place: it does
    return step in (7, 9, 10, 11, 12, 14, 15, 16, 18, 19, 20)   # 10: the grad is back


def test_the_steady_state_step_runs_the_full_path_whenever_anything_changed():
    data = Data(7)
    runs, full = [], []
    for mine, (model, opt) in zip((True, False), _pair("AdamW", lr=1e-2, weight_decay=0.1)):
        if mine:        # the full path: sync the groups, then the engine's step
            update = opt._update
            opt._update = lambda: (full.append(step), update())[1]
        opt.hooked = []
        for step in range(21):
            opt.zero_grad()
            loss_of(model, data, step).backward()
            changed = _changes(model, opt, step)
            before = len(full)
            opt.step()
            if mine and step:
                assert (len(full) > before) == changed, step
        runs.append(model)
        assert opt.hooked == [16]
    assert full == [0, 7, 9, 10, 11, 12, 14, 15, 16, 18, 19, 20]    # 20: a tensor value
    model, twin = runs
    assert_params_close(zip(model.parameters(), twin.parameters()), RTOL, ATOL)


@pytest.mark.parametrize("key,bad", [("lr", -0.5), ("weight_decay", float("inf")),
                                     ("betas", (0.9, 1.5))])
def test_a_bad_new_value_on_the_steady_path_raises_before_any_write(key, bad):
    (model, opt), (twin, theirs) = _pair("AdamW", lr=1e-2)
    data = Data(9)
    for step in range(3):
        for m, o in ((model, opt), (twin, theirs)):
            train_step(m, o, data, step)
    assert opt._again is not None
    opt.zero_grad()
    loss_of(model, data, 3).backward()
    before = [p.detach().clone() for p in model.parameters()]
    moments = [opt.state[p]["exp_avg"].clone() for p in model.parameters()]
    good, opt.param_groups[0][key] = opt.param_groups[0][key], bad
    with pytest.raises(ValueError, match=key if key != "betas" else "beta2"):
        opt.step()
    for p, b, m in zip(model.parameters(), before, moments):
        assert torch.equal(p, b) and torch.equal(opt.state[p]["exp_avg"], m)
    opt.param_groups[0][key] = good
    opt.step()                                          # and on from there, as torch's
    train_step(twin, theirs, data, 3)
    for step in range(4, 7):
        for m, o in ((model, opt), (twin, theirs)):
            train_step(m, o, data, step)
    assert_params_close(zip(model.parameters(), twin.parameters()), RTOL, ATOL)


def test_the_steady_state_step_updates_in_place_and_keeps_steps_counted():
    (model, opt), (twin, theirs) = _pair("Adam", lr=1e-2)
    data = Data(8)
    pointers = [p.data_ptr() for p in model.parameters()]
    for step in range(6):
        for m, o in ((model, opt), (twin, theirs)):
            train_step(m, o, data, step)
    assert [p.data_ptr() for p in model.parameters()] == pointers
    assert all(float(opt.state[p]["step"]) == 6 for p in model.parameters())
    state, their_state = opt.state_dict()["state"], theirs.state_dict()["state"]
    for k in their_state:
        for name, value in their_state[k].items():
            assert torch.allclose(state[k][name], value, rtol=RTOL, atol=ATOL), (k, name)


class _OwnDataPtr(torch.nn.Parameter):
    """A parameter type with a data_ptr of its own (the steady step calls torch's)."""

    def data_ptr(self) -> int:
        return super().data_ptr()


@pytest.mark.parametrize("kind", [torch.nn.Parameter, _OwnDataPtr])
def test_a_tensor_type_with_its_own_data_ptr_keeps_the_full_path(kind):
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(5, 3, generator=gen)
    params = [kind(torch.randn(4, 3, generator=gen)), kind(torch.randn(4, generator=gen))]
    twins = [torch.nn.Parameter(p.detach().clone()) for p in params]
    ours = ot_torch.SGD(params, lr=0.1, momentum=0.9)
    theirs = torch.optim.SGD(twins, lr=0.1, momentum=0.9, foreach=False)
    for step in range(6):
        for (w, b), opt in ((params, ours), (twins, theirs)):
            opt.zero_grad()
            (torch.tanh(x @ w.T + b) ** 2).sum().mul(step + 1).backward()
            opt.step()
    assert (ours._again is None) == (kind is _OwnDataPtr)
    assert_params_close(zip(params, twins), RTOL, ATOL)


def _decay_groups(model):
    """The usual transformer recipe: weight decay on the weights, none on the biases."""
    named = list(model.named_parameters())
    return [{"params": [p for n, p in named if n.endswith("weight")], "weight_decay": 0.05},
            {"params": [p for n, p in named if not n.endswith("weight")], "weight_decay": 0.0}]


def test_several_groups_stay_on_the_steady_path_under_a_per_step_schedule():
    model = mlp(4)
    twin = copy.deepcopy(model)
    ours = ot_torch.AdamW(_decay_groups(model), lr=1e-2)
    theirs = torch.optim.AdamW(_decay_groups(twin), lr=1e-2, foreach=False)
    schedules = [sched.LambdaLR(o, lambda s: 1.0 / (1.0 + 0.3 * s)) for o in (ours, theirs)]
    data, full = Data(10), []
    update = ours._update
    ours._update = lambda: (full.append(step), update())[1]
    for step in range(12):
        if step == 6:
            for o in (ours, theirs):
                o.param_groups[1]["weight_decay"] = 0.01            # one group's value
        if step == 9:
            for o in (ours, theirs):
                o.param_groups[1]["params"] = o.param_groups[1]["params"][:-1]   # one less
        for m, o, s in ((model, ours, schedules[0]), (twin, theirs, schedules[1])):
            train_step(m, o, data, step)
            s.step()
    assert full == [0, 9]
    assert_params_close(zip(model.parameters(), twin.parameters()), RTOL, ATOL)
