# Is R Haar? (docs/methods.md §7, §12.2-3): the size/power table, the statistics of every fitted R,
# and Figure 2.


rule haar_power:
    output:
        ensure(haar_file("all", "power"), non_empty=True),
    params:
        haar=CFG.params("haar"),
    log:
        log_file("haar_power"),
    resources:
        mem_mb=2000,
        # paper.yaml draws 1,000 (d = 64) and 200 (d = 512) matrices per alternative
        runtime=240,
    conda:
        CONDA_ENV
    script:
        "../scripts/haar_power.py"


rule haar_rotations:
    input:
        rotations=lambda wc: [rotation_file(wc.arm, k["anchor"], k["other"], k["site"], "npy") for k in ARMS[wc.arm].rotation_keys()],
        fit=lambda wc: [acts_file(wc.arm, k["other"], k["site"], "fit") for k in ARMS[wc.arm].rotation_keys()],
    output:
        rotations=ensure(haar_file("{arm}", "rotations"), non_empty=True),
        pooled=ensure(haar_file("{arm}", "pooled_paper_test"), non_empty=True),
    params:
        pair_sites=lambda wc: ARMS[wc.arm].rotation_keys(),
        paper_sites=lambda wc: polyrot.audit.paper_sites(ARMS[wc.arm].sites),
        haar=CFG.params("haar"),
    log:
        log_file("haar_rotations", "{arm}"),
    resources:
        mem_mb=2000,
        runtime=120,
    conda:
        CONDA_ENV
    script:
        "../scripts/haar_rotations.py"
