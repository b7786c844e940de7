//! Tests of [`super`]: the sweep written to disk and refused where it cannot run.

use super::*;
use crate::augment::Augment;
use crate::data::DataSpec;

#[test]
fn a_log_path_survives_the_shell_whatever_its_characters() {
    let path = Path::new("/tmp/a sweep/\"quoted\" $HOME `x` back\\slash");
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!("printf %s \"{}\"", shell_double_quoted(path)))
        .output()
        .expect("bash runs");
    assert_eq!(String::from_utf8_lossy(&out.stdout), path.display().to_string());
}

fn request(dir: &Path) -> PlanRequest {
    let model = dir.join("my model.cnn");
    std::fs::write(&model, "param width = 2\ninput 8x8x1\nconv width 3x3\ndense 2\n").unwrap();
    let augments = [Augment::default(), "flip".parse().unwrap()];
    PlanRequest {
        variants: super::super::variants(&[model], &[("width".into(), vec![2, 3])], &augments),
        input: None,
        data: DataRequest {
            spec: DataSpec::Mnist("data dir/it's".into()),
            limit: Some(64),
            val_split: None,
            val_limit: Some(32),
            seed: 7,
        },
        options: TrainOptions {
            optimizer: OptimizerKind::Sgd,
            momentum: 0.9,
            lr: 0.1,
            seed: 7,
            ..TrainOptions::default()
        },
        binary: "/opt/cnnc bin/cnnc".into(),
        gpus_per_task: 1,
    }
}

#[test]
fn a_plan_freezes_the_models_and_quotes_its_commands() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("sweep");
    let sweep = write(&request(tmp.path()), &dir).unwrap();
    assert_eq!(sweep.variants.len(), 4);
    assert_eq!(sweep.models.len(), 1);
    let copy = std::fs::read_to_string(dir.join("models/my model.cnn")).unwrap();
    assert_eq!(sha256(copy.as_bytes()), sweep.models[0].sha256);
    assert_eq!(read(&dir).unwrap(), sweep);

    let jobs = std::fs::read_to_string(dir.join(JOBS_FILE)).unwrap();
    let lines: Vec<&str> = jobs.lines().collect();
    assert_eq!(lines.len(), 4);
    // Each line splits back into the words of its command.
    for (line, v) in lines.iter().zip(&sweep.variants) {
        assert_eq!(shlex::split(line).unwrap(), v.command);
    }
    let words = &sweep.variants[3].command;
    assert_eq!(&words[..2], ["/opt/cnnc bin/cnnc", "train"]);
    assert_eq!(words[2], dir.join("models/my model.cnn").display().to_string());
    let joined = words.join(" ");
    for part in [
        "--set width=3",
        "--augment flip",
        "--optimizer sgd --lr 0.1 --momentum 0.9 --seed 7",
        "--limit 64 --val-limit 32",
        "--epochs 1 --batch 128",
    ] {
        assert!(joined.contains(part), "{part} in {joined}");
    }
    assert!(sweep.data.starts_with("mnist:/") && sweep.data.ends_with("data dir/it's"));
    assert_eq!(
        words.last().unwrap(),
        &dir.join("runs/my-model-width3-augmentflip").display().to_string()
    );

    let sbatch = std::fs::read_to_string(dir.join(SBATCH_FILE)).unwrap();
    assert!(
        sbatch.contains("#SBATCH --array=0-3\n#SBATCH --gres=gpu:1\n"),
        "{sbatch}"
    );
    assert!(sbatch.contains("$((SLURM_ARRAY_TASK_ID + 1))p"));

    // The same plan again is fine; another is refused.
    write(&request(tmp.path()), &dir).unwrap();
    let mut other = request(tmp.path());
    other.options.epochs = 2;
    let Err(Failure::Usage(m)) = write(&other, &dir) else {
        panic!("another sweep in the same directory")
    };
    assert!(m.contains("already holds another sweep"), "{m}");
}

#[test]
fn no_gpu_asked_for_with_zero_gpus_and_collisions_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let mut cpu = request(tmp.path());
    cpu.gpus_per_task = 0;
    write(&cpu, &tmp.path().join("cpu")).unwrap();
    let sbatch = std::fs::read_to_string(tmp.path().join("cpu").join(SBATCH_FILE)).unwrap();
    assert!(!sbatch.contains("\n#SBATCH --gres"), "{sbatch}");
    assert!(sbatch.contains("##SBATCH --gres=gpu:1"));

    let sub = tmp.path().join("sub");
    std::fs::create_dir(&sub).unwrap();
    let other = sub.join("my model.cnn");
    std::fs::write(&other, "input 8x8x1\ndense 2\n").unwrap();
    let mut twins = request(tmp.path());
    twins.variants = super::super::variants(&[tmp.path().join("my model.cnn"), other], &[], &[]);
    let Err(Failure::Usage(m)) = write(&twins, &tmp.path().join("twins")) else {
        panic!("two files of one name")
    };
    assert!(m.contains("would share the run directory"), "{m}");
}

/// `--set width=…` over two files, one without `width`: refused when
/// planning, not as jobs that must fail.
#[test]
fn a_setting_a_file_does_not_declare_is_refused_at_plan_time() {
    let tmp = tempfile::tempdir().unwrap();
    let plain = tmp.path().join("plain.cnn");
    std::fs::write(
        &plain,
        "input 8x8x1
conv 2 3x3
dense 2
",
    )
    .unwrap();
    let mut both = request(tmp.path());
    let files = [tmp.path().join("my model.cnn"), plain];
    both.variants = super::super::variants(&files, &[("width".into(), vec![4, 8])], &[]);
    let Err(Failure::Usage(m)) = write(&both, &tmp.path().join("both")) else {
        panic!("a variant that cannot train was planned")
    };
    assert!(
        m.contains("`--set width=…` names no parameter of") && m.contains("plain.cnn"),
        "{m}"
    );
    assert!(
        !tmp.path().join("both").join(JOBS_FILE).exists(),
        "nothing planned"
    );
}
