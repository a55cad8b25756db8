"""Per-class queue resources: derived defaults, what each job of the campaign graph carries, and the queue scripts
FireWorks' own adapters render from them (Slurm and PBS; no PBS server can run here, so its script is checked)."""

import pytest
from fireworks.user_objects.queue_adapters.common_adapter import CommonAdapter

from pyacemaker.campaign.context import Context
from pyacemaker.campaign.flows import iteration_flow
from pyacemaker.campaign.queue import JOB_CLASS, qadapter, queue_params
from pyacemaker.config import ConfigError, dump_resolved, parse_config, resolve


def _cfg(**extra):
    return resolve(parse_config({"elements": ["Cu"], "oracle": {"type": "emt"}, **extra}))


def test_each_class_gets_derived_resources_with_a_reason():
    cfg, notes = _cfg(resources={"label": {"walltime": "12:00:00", "queue": "short"}})
    r = cfg.resources
    assert (r.label.walltime, r.label.queue, r.label.ntasks) == (
        "12:00:00",
        "short",
        1,
    )  # the user's value wins
    assert r.train.cpus_per_task == 4 and r.light.walltime == "00:15:00"
    assert {r.label.category, r.train.category, r.explore.category, r.light.category} == {
        "label", "train", "explore", "light"}  # fmt: skip
    assert "resources.train" in notes and "pacemaker" in dump_resolved(cfg, notes)
    import yaml

    unquoted = yaml.safe_load("walltime: 12:00:00")["walltime"]  # YAML 1.1: sexagesimal seconds
    assert _cfg(resources={"train": {"walltime": unquoted}})[0].resources.train.walltime == "12:00:00"
    si, _ = resolve(parse_config({"elements": ["Si"], "oracle": {"type": "espresso"}}))
    assert si.resources.label.ntasks == 4  # DFT labels get MPI ranks


@pytest.mark.parametrize(("value", "message"), [("2 hours", "walltime '2 hours'"), ("lots", "mem 'lots'")])
def test_bad_resources_are_config_errors(value, message):
    key = "walltime" if "hours" in value else "mem"
    with pytest.raises(ConfigError, match=f"resources.train.{key}: .*{message}"):
        _cfg(resources={"train": {key: value}})


def test_every_job_carries_its_class_category_and_queue_parameters(tmp_path):
    cfg, _ = _cfg(resources={"train": {"gpus": 1, "account": "mat123"}})
    ctx = Context("res", cfg, tmp_path)
    for iteration in (0, 2):  # iteration 2 stands for the ones decide appends
        for job in iteration_flow(ctx, iteration).jobs:
            mc = job.config.manager_config
            cls = JOB_CLASS[job.name.split()[0]]
            assert (
                mc["pyacemaker_class"] == cls
                and mc["_category"] == cls
                and mc["pyacemaker_campaign"] == "res"
            )
            assert mc["_queueadapter"] == queue_params(getattr(cfg.resources, cls), "slurm")
    # what jobflow does to the jobs a Response adds (Job.run): the adding job (decide, summary) must not pass its
    # own config on, or the appended iteration's label/train/explore jobs would all become light
    appended = iteration_flow(ctx, 3)
    adders = [j for j in iteration_flow(ctx, 2).jobs if j.name.startswith("decide")]
    assert adders and all(not j.config.pass_manager_config for j in [*adders, *appended.jobs])
    assert {j.config.manager_config["pyacemaker_class"] for j in appended.jobs} == {
        "light",
        "label",
        "train",
        "explore",
    }
    train = next(j for j in iteration_flow(ctx, 1).jobs if j.name.startswith("train"))
    qa = train.config.manager_config["_queueadapter"]
    assert qa["gpus"] == 1 and qa["account"] == "mat123" and qa["cpus_per_task"] == 4
    one, _ = _cfg(workers={"category": "all"})
    assert {
        j.config.manager_config["_category"] for j in iteration_flow(Context("r", one, tmp_path), 0).jobs
    } == {"all"}


def test_slurm_and_pbs_scripts_from_fireworks_templates(tmp_path):
    cfg, _ = _cfg(resources={"label": {"ntasks": 8, "nodes": 2, "walltime": "1-02:00:00", "queue": "batch",
                                       "directives": {"qos": "high"}, "pre_rocket": "module load qe"}})  # fmt: skip
    res = cfg.resources.label
    slurm = CommonAdapter(**{k: v for k, v in qadapter(res, "slurm", "rlaunch singleshot", str(tmp_path), "lab")
                             .items() if not k.startswith("_")}, q_type="SLURM").get_script_str(str(tmp_path))  # fmt: skip
    for line in ("#SBATCH --nodes=2", "#SBATCH --ntasks=8", "#SBATCH --time=1-02:00:00", "#SBATCH --partition=batch",
                 "#SBATCH --qos=high", "#SBATCH --mem=2G", "module load qe", "rlaunch singleshot"):  # fmt: skip
        assert line in slurm, line
    pbs = CommonAdapter(**{k: v for k, v in qadapter(res, "pbs", "rlaunch singleshot", str(tmp_path), "lab")
                           .items() if not k.startswith("_")}, q_type="PBS").get_script_str(str(tmp_path))  # fmt: skip
    for line in ("#PBS -l nodes=2:ppn=4", "#PBS -l walltime=26:00:00", "#PBS -q batch", "#PBS -N lab",
                 "#PBS -l pmem=2G", "module load qe"):  # fmt: skip
        assert line in pbs, line
    assert "$${" not in pbs and "$${" not in slurm  # every template line without a value was dropped
