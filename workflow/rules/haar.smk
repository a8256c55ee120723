# Is R Haar? (SPEC §7, §12.2-3): the size/power table, the statistics of every fitted R,
# and Figure 2.


rule haar_power:
    output:
        RESULTS / "haar/power.tsv",
    params:
        haar=CFG.raw["haar"],
    log:
        RESULTS / "logs/haar_power.log",
    resources:
        mem_mb=2000,
        # paper.yaml draws 1,000 (d = 64) and 200 (d = 512) matrices per alternative
        runtime=240,
    conda:
        CONDA_ENV
    script:
        "../scripts/haar_power.py"


for _arm, _spec in ARMS.items():

    rule:
        name:
            f"haar_rotations_{_arm}"
        input:
            rotations=[
                RESULTS / f"{_arm}/rotations/{a}__{b}/{s}.npy" for s in _spec["sites"] for _, a, b in _spec["pairs"]
            ],
            fit=[acts_file(_arm, b, s, "fit") for s in _spec["sites"] for _, a, b in _spec["pairs"]],
        output:
            rotations=RESULTS / f"{_arm}/haar/rotations.tsv",
            pooled=RESULTS / f"{_arm}/haar/pooled_paper_test.tsv",
        params:
            pair_sites=[{"cohort": c, "anchor": a, "other": b, "site": s} for s in _spec["sites"] for c, a, b in _spec["pairs"]],
            haar=CFG.raw["haar"],
        log:
            RESULTS / f"logs/haar_rotations/{_arm}.log",
        resources:
            mem_mb=2000,
            runtime=120,
        conda:
            CONDA_ENV
        script:
            "../scripts/haar_rotations.py"


rule figure2:
    input:
        power=RESULTS / "haar/power.tsv",
        rotations=expand(RESULTS / "{arm}/haar/rotations.tsv", arm=ARMS),
        matrices=[
            RESULTS / f"{arm}/rotations/{a}__{b}/{s}.npy"
            for arm, spec in ARMS.items()
            for s in spec["sites"]
            for _, a, b in spec["pairs"]
        ],
    output:
        png=RESULTS / "figures/figure2.png",
        pdf=RESULTS / "figures/figure2.pdf",
    params:
        haar=CFG.raw["haar"],
    log:
        RESULTS / "logs/figure2.log",
    conda:
        CONDA_ENV
    script:
        "../scripts/figure2.py"
