"""``breastlab`` commands: mammography: preprocessing, classification and finding detection."""

from __future__ import annotations

import argparse

from breastlab._lock import folder_lock
from breastlab.cli._args import config_argument, int_at_least, non_negative_int, positive_int, save_config
from breastlab.errors import BreastlabInputError
from breastlab.presets import CPU_PRESET, PAPER_PRESET, describe_preset


def add(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("mammo", help="mammography: classification (and detection)")
    mammo_sub = p.add_subparsers(dest="mammo_command", metavar="SUBCOMMAND")
    c = mammo_sub.add_parser(
        "classify",
        help="negative / recalled-benign / malignant classification "
        "(Aboutalib et al. 2018): scenarios, transfer strategies, ROC/AUC, DeLong",
    )
    c.add_argument(
        "store",
        help="store of dataset B from `mammo preprocess`: --method aboutalib2018 (227x227) for --preset paper; "
        f"{_store_flags(CPU_PRESET['store'])} for --preset cpu",
    )
    c.add_argument("--out", required=True, help="output folder (runs, results.csv, predictions, report.html)")
    c.add_argument(
        "--scenario",
        default="all",
        help="all or comma-separated: malignant_vs_rest, "
        "malignant_vs_negative, malignant_vs_recalled, recalled_vs_negative, recalled_vs_rest, three_class",
    )
    c.add_argument(
        "--strategy",
        default="imagenet",
        help="comma-separated: imagenet, incremental, mixed (two or more are compared with DeLong)",
    )
    c.add_argument("--sites", default=None, help="CSV with image_id,site (e.g. the phantom's phantom_truth.csv)")
    c.add_argument("--site", default=None, help="site of dataset B (default: all images)")
    c.add_argument("--pretrain-store", default=None, help="store of dataset A (default: the same store)")
    c.add_argument("--pretrain-site", default=None, help="site of dataset A (incremental / mixed)")
    c.add_argument(
        "--test-fraction",
        type=float,
        default=None,
        help="patient-level held-out test (0.05/0.10/0.15; default 0.15 unless --folds)",
    )
    c.add_argument(
        "--folds", type=int_at_least(2), default=None, help="patient-grouped k-fold cross-validation (e.g. 6)"
    )
    c.add_argument("--train-patients", type=int, default=None, help="keep this many of B's training patients")
    c.add_argument(
        "--preset",
        default="paper",
        choices=["paper", "cpu"],
        help=f"paper (the study's, GPU): {describe_preset(PAPER_PRESET)}; cpu: {describe_preset(CPU_PRESET)}; "
        "the options below override it",
    )
    c.add_argument("--model", default=None, help="registry model: alexnet (paper), resnet18, resnet50, small_cnn")
    c.add_argument(
        "--weights",
        default="default",
        help="imagenet (torch hub cache, never downloaded), none, or PATH (default: imagenet where the model has "
        "ImageNet weights, as the paper preset's alexnet; none for the cpu preset's small_cnn, which has none)",
    )
    c.add_argument("--iterations", type=positive_int, default=None, help="training iterations (default: the preset's)")
    c.add_argument(
        "--pretrain-iterations", type=positive_int, default=None, help="iterations on dataset A (default: same)"
    )
    c.add_argument("--batch-size", type=positive_int, default=None, help="images per step (default: the preset's)")
    c.add_argument("--lr", type=float, default=None, help="SGD learning rate (default: the preset's)")
    c.add_argument("--lr-step", type=int, default=None, help="multiply lr by 0.1 every N iterations")
    c.add_argument("--wd", type=float, default=None, help="weight decay (default: the preset's)")
    c.add_argument("--image-size", type=int, default=None, help="input size (0: the stored size, no resize)")
    c.add_argument("--no-balance", action="store_true", help="uniform batches instead of class-balanced ones")
    c.add_argument(
        "--n-boot", type=int_at_least(2), default=2000, help="patient-level bootstrap replicates of the AUC CIs"
    )
    c.add_argument("--seed", type=int, default=0, help="seed of the splits, the training and the bootstrap")
    c.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    c.add_argument("--no-progress", action="store_true", help="no progress bars or progress lines")
    config_argument(c)
    c.set_defaults(func=_cmd_mammo_classify)
    _add_mammo_preprocess(mammo_sub)
    _add_mammo_detect(mammo_sub)


def _store_flags(store: dict) -> str:
    """The `mammo preprocess` flags that build a preset's store."""
    return " ".join(f"--{k} {' '.join(map(str, v)) if isinstance(v, list | tuple) else v}" for k, v in store.items())


def _add_mammo_preprocess(mammo_sub: argparse._SubParsersAction) -> None:
    p = mammo_sub.add_parser("preprocess", help="read CBIS-DDSM / VinDr-Mammo / mini-MIAS into a preprocessed store")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--cbis", metavar="CSV_DIR", help="folder of the CBIS-DDSM case-description CSVs")
    src.add_argument("--vindr", metavar="DIR", help="VinDr-Mammo folder (finding_annotations.csv, images)")
    src.add_argument("--mias", metavar="DIR", help="mini-MIAS folder (Info.txt and mdbNNN.pgm)")
    p.add_argument("--dicom", default=None, help="CBIS-DDSM DICOM root (default: next to the CSVs)")
    p.add_argument("--out", required=True, help="output store folder")
    add_preprocess_options(p)
    p.set_defaults(func=_cmd_mammo_preprocess)
    t = mammo_sub.add_parser(
        "table",
        help="write a public data set as the image table of `breastlab import mammo` (images.csv, findings.csv)",
    )
    src = t.add_mutually_exclusive_group(required=True)
    src.add_argument("--cbis", metavar="CSV_DIR", help="folder of the CBIS-DDSM case-description CSVs")
    src.add_argument("--vindr", metavar="DIR", help="VinDr-Mammo folder (finding_annotations.csv, images)")
    src.add_argument("--mias", metavar="DIR", help="mini-MIAS folder (Info.txt and mdbNNN.pgm)")
    t.add_argument("--dicom", default=None, help="CBIS-DDSM DICOM root (needed with --cbis: paths are relative to it)")
    t.add_argument("--out", required=True, help="image table (.csv); findings.csv and problems.csv go beside it")
    t.set_defaults(func=_cmd_mammo_table)


def add_preprocess_options(p: argparse.ArgumentParser) -> None:
    """The preprocessing options of `mammo preprocess` and `import mammo` (one store format)."""
    p.add_argument(
        "--method",
        default="standard",
        choices=["standard", "aboutalib2018"],
        help="standard: resampled to --spacing; aboutalib2018: the study's 227x227 equalised images",
    )
    p.add_argument("--spacing", type=float, default=0.15, help="pixel spacing in mm (standard method)")
    p.add_argument(
        "--layout",
        default="ragged",
        choices=["ragged", "fixed"],
        help="ragged: each image its own size; fixed: one --size for all (classifier input)",
    )
    p.add_argument(
        "--size",
        type=int,
        nargs="+",
        default=None,
        metavar="N",
        help="fixed-layout image size: N (square) or H W (e.g. 128 96 at --spacing 1.6: the cpu preset)",
    )
    p.add_argument("--pectoral", action="store_true", help="remove the pectoral muscle on MLO views")
    p.add_argument("--fallback-spacing", type=float, default=None, help="mm, for images without spacing tags")
    p.add_argument("--workers", type=positive_int, default=1, help="patients processed in parallel")


def _read_public(args: argparse.Namespace):  # noqa: ANN202 - a MammoDataset
    from breastlab.data.mammo import read_cbis_ddsm, read_mini_mias, read_vindr_mammo

    if args.cbis:
        dataset, images = read_cbis_ddsm(args.cbis, args.dicom), args.dicom or args.cbis
    elif args.vindr:
        dataset, images = read_vindr_mammo(args.vindr), args.vindr
    else:
        dataset, images = read_mini_mias(args.mias), args.mias
    dataset.check_located(images)
    return dataset


def preprocess_size(size: list[int] | None) -> int | tuple[int, ...] | None:
    """``--size N`` or ``--size H W`` as build_mammo_store's ``size``."""
    return None if size is None else (size[0] if len(size) == 1 else tuple(size))


def _cmd_mammo_table(args: argparse.Namespace) -> int:
    from pathlib import Path

    from breastlab.data.mammo.table_import import write_dataset_table

    if args.cbis and not args.dicom:
        raise BreastlabInputError("mammo table --cbis: give --dicom ROOT (the table's paths are relative to it)")
    dataset = _read_public(args)
    root = Path(args.dicom if args.cbis else args.vindr or args.mias)
    images, findings = write_dataset_table(dataset, root, args.out)
    print(f"{dataset.source}: wrote {images}, {findings} and {images.with_name('problems.csv')}")
    print(f"next: breastlab import mammo {images} --root {root} --findings {findings} --out STORE")
    return 0


def _cmd_mammo_preprocess(args: argparse.Namespace) -> int:
    from breastlab._table import emit
    from breastlab.data.mammo.preprocess import build_mammo_store

    dataset = _read_public(args)
    emit(dataset.summary(), title=f"{dataset.source}: images and findings")
    size = preprocess_size(args.size)
    store = build_mammo_store(
        dataset,
        args.out,
        method=args.method,
        spacing=args.spacing,
        layout=args.layout,
        size=size,
        pectoral=args.pectoral,
        fallback_spacing=args.fallback_spacing,
        workers=args.workers,
    )
    print(f"store: {store.path} ({len(store)} images; problems in {store.path / 'problems.csv'})")
    return 0


def _cmd_mammo_classify(args: argparse.Namespace) -> int:
    import dataclasses

    from breastlab._table import emit
    from breastlab.mammo import classify
    from breastlab.mammo.presets import preset_config
    from breastlab.mammo.report import write_classify_report

    options = ("model", "iterations", "batch_size", "lr", "lr_step", "wd", "image_size")
    cfg = preset_config(
        args.preset,
        weights=args.weights,
        seed=args.seed,
        device=args.device,
        balanced=False if args.no_balance else None,
        **{key: getattr(args, key) for key in options},
    )
    pcfg = dataclasses.replace(cfg, iterations=args.pretrain_iterations or cfg.iterations)
    test_fraction = args.test_fraction if args.folds is None else None
    if args.folds is None and test_fraction is None:
        test_fraction = 0.15
    with folder_lock(args.out):  # one command at a time writes the output folder
        res = classify(
            args.store,
            args.out,
            scenarios=args.scenario,
            strategies=args.strategy,
            sites=args.sites,
            site=args.site,
            pretrain_store=args.pretrain_store,
            pretrain_site=args.pretrain_site,
            test_fraction=test_fraction,
            folds=args.folds,
            train_patients=args.train_patients,
            config=cfg,
            pretrain_config=pcfg,
            n_boot=args.n_boot,
            seed=args.seed,
            progress=not args.no_progress,
        )
        save_config(args, args.out)
    emit(res.results, title="AUC per scenario")
    if not res.comparisons.empty:
        emit(res.comparisons, title="DeLong comparison of strategies")
    for note in res.notes:
        print(f"note: {note}")
    print(f"report: {write_classify_report(res)}")
    return 0


def _add_mammo_detect(mammo_sub: argparse._SubParsersAction) -> None:
    p = mammo_sub.add_parser("detect", help="finding detection (Faster R-CNN): train, predict (AI marks), evaluate")
    d = p.add_subparsers(dest="detect_command", metavar="STEP")
    t = d.add_parser("train", help="train a detector on a mammography store (resumable)")
    t.add_argument("store", help="store from build_mammo_store (standard method, the preset's spacing)")
    t.add_argument("--out", required=True, metavar="RUN", help="run folder (config.json, checkpoint.pt, model.pt)")
    t.add_argument("--preset", default="cpu-small", help="cpu-small (CPU, small arch) or study (ResNet-50 FPN v2)")
    t.add_argument("--split", default="train", help="manifest split to train on ('all': every image)")
    t.add_argument("--iterations", type=positive_int, default=None, help="training iterations (default: the preset's)")
    t.add_argument("--batch-size", type=positive_int, default=None, help="images per step (default: the preset's)")
    t.add_argument("--lr", type=float, default=None, help="learning rate (default: the preset's)")
    t.add_argument("--spacing", type=float, default=None, help="pixel spacing (mm) the store was made at")
    t.add_argument("--classes", default=None, help="comma-separated subset of the four finding classes")
    t.add_argument("--weights", default=None, help="coco (torch hub cache) or PATH of a checkpoint / state dict")
    t.add_argument(
        "--workers", type=non_negative_int, default=None, help="data-loading processes (default: the preset's)"
    )
    t.add_argument("--device", default=None, help="auto, cpu, cuda, cuda:N (default: the preset's)")
    t.add_argument("--seed", type=int, default=None, help="seed of the sample order (default: the preset's)")
    t.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    config_argument(t)
    t.set_defaults(func=_cmd_detect_train)
    q = d.add_parser("predict", help="detections + AI marks (CSV/JSON/PNG per image) + reader-study rows")
    q.add_argument("run", help="run folder or checkpoint")
    q.add_argument("store", help="mammography store holding the images (as for train)")
    q.add_argument("--out", required=True, help="output folder")
    q.add_argument("--split", default="all", help="manifest split to predict ('all': every image)")
    q.add_argument("--tta", default=None, help="none, wbf or nms (default: the run's config)")
    q.add_argument("--classes", default=None, help="expected classes (checked against the checkpoint)")
    q.add_argument("--min-score", type=float, default=0.05, help="marks below this score are not written")
    q.add_argument("--max-marks", type=int, default=5, help="marks per image in the CSV/JSON/PNG")
    q.add_argument("--no-png", action="store_true", help="no PNG of each image with its marks")
    q.add_argument("--level", default="patient", help="reader-study case: patient, breast or image")
    q.add_argument("--pair-model", default=None, help="CC-MLO pair model from `fit-pairs` (default: the heuristic)")
    q.add_argument(
        "--coco",
        action="store_true",
        help="also write coco_results.json and coco_ground_truth.json (the store's findings), for COCO tools",
    )
    q.set_defaults(func=_cmd_detect_predict)
    f = d.add_parser("fit-pairs", help="fit the gradient-boosted CC-MLO pair model on detections with known truth")
    f.add_argument("store", help="mammography store holding the images and their true findings")
    f.add_argument("detections", help="detections.csv of images the detector did not train on (e.g. out-of-fold)")
    f.add_argument(
        "--out", required=True, help="model file to write (JSON: the training pairs and seed; refitted when read)"
    )
    f.add_argument("--split", default="all", help="manifest split whose images are used")
    f.add_argument("--min-score", type=float, default=0.1, help="detections below this score are left out")
    f.add_argument("--seed", type=int, default=0, help="seed of the gradient-boosted model")
    f.set_defaults(func=_cmd_detect_fit_pairs)
    e = d.add_parser(
        "evaluate",
        help="FROC, AP@0.5, image/breast ROC (Table 1), report section: of predict's detections on a store, "
        "or of any detector's COCO results against a COCO ground truth (--coco-gt, --coco-results)",
    )
    e.add_argument("store", nargs="?", help="mammography store holding the images and their true findings")
    e.add_argument("detections", nargs="?", help="detections.csv written by predict")
    e.add_argument(
        "--coco-gt",
        default=None,
        metavar="GT.json",
        help="COCO ground truth (images, annotations with bbox [x,y,w,h], categories named mass, calcification, "
        "asymmetry, architectural_distortion or any other name, kept as its own class); instead of STORE",
    )
    e.add_argument(
        "--coco-results",
        default=None,
        metavar="RESULTS.json",
        help="COCO detection results (a list of {image_id, category_id, bbox, score}, as MMDetection, "
        "detectron2 and torchvision write them); with --coco-gt, instead of DETECTIONS",
    )
    e.add_argument("--out", required=True, help="output folder (tables, curves, report section)")
    e.add_argument("--split", default="all", help="manifest split to evaluate ('all': every image)")
    e.add_argument("--hit", default="iou_or_centre", help="iou, centre or iou_or_centre")
    e.add_argument("--iou", type=float, default=0.5, help="IoU a detection needs to hit a finding (iou rules)")
    e.add_argument("--html", default=None, help="write the detection report (FROC, Table 1, gallery)")
    e.set_defaults(func=_cmd_detect_evaluate)


def _cmd_detect_train(args: argparse.Namespace) -> int:
    from breastlab.data.store import ArrayStore
    from breastlab.detect.model import train_detector
    from breastlab.detect.presets import detector_config
    from breastlab.detect.select import split_rows

    store = ArrayStore(args.store)
    cfg = detector_config(
        args.preset,
        classes=args.classes,
        iterations=args.iterations,
        batch_size=args.batch_size,
        lr=args.lr,
        spacing_mm=args.spacing,
        weights=args.weights,
        workers=args.workers,
        device=args.device,
        seed=args.seed,
    )
    with folder_lock(args.out):  # one command at a time writes a run folder
        run = train_detector(store, args.out, cfg, rows=split_rows(store, args.split), resume=args.resume)
        save_config(args, args.out)
    print(f"wrote {run}")
    return 0


def _cmd_detect_predict(args: argparse.Namespace) -> int:
    from pathlib import Path

    from breastlab._io import write_table
    from breastlab.data.store import ArrayStore
    from breastlab.detect.marks import annotate, reader_study_rows, write_marks
    from breastlab.detect.model import load_detector, predict
    from breastlab.detect.presets import parse_classes
    from breastlab.detect.select import split_images, split_rows

    store = ArrayStore(args.store)
    model, cfg = load_detector(args.run, classes=parse_classes(args.classes))
    pair_model = None
    if args.pair_model:  # read before anything is written
        from breastlab.detect.localise import load_pair_model

        pair_model = load_pair_model(args.pair_model)
    rows = split_rows(store, args.split)
    out = Path(args.out)
    with folder_lock(out):  # one command at a time writes the output folder
        det = predict(model, cfg, store, rows=rows, tta=args.tta)
        write_table(det, out / "detections.csv")
        marks = annotate(det, store, min_score=args.min_score, pair_model=pair_model)
        write_marks(marks, store, out / "marks", max_per_image=args.max_marks, png=not args.no_png)
        images = split_images(store, args.split)
        write_table(reader_study_rows(det, images, store.findings, level=args.level), out / "reader_study_model.csv")
        from breastlab.detect.jafroc import write_ai_reader

        write_ai_reader(det, images, store.findings, out / "jafroc")
        if args.coco:
            from breastlab.detect.coco import write_coco_files

            write_coco_files(out, images, store.findings, det, cfg.classes)
    print(
        f"{len(det)} detections on {len(images)} images; wrote {out}/detections.csv, marks/, reader_study_model.csv, "
        "jafroc/ (the AI's marks as a JAFROC reader)"
    )
    return 0


def _cmd_detect_fit_pairs(args: argparse.Namespace) -> int:
    from breastlab.data.store import ArrayStore
    from breastlab.detect.localise import save_pair_model
    from breastlab.detect.marks import fit_pair_model_on
    from breastlab.detect.select import detections_on, read_detections, split_images

    store = ArrayStore(args.store)
    det = detections_on(read_detections(args.detections), split_images(store, args.split))
    model, pairs = fit_pair_model_on(det, store, min_score=args.min_score, seed=args.seed)
    path = save_pair_model(model, args.out)
    print(
        f"pair model fitted on {len(pairs)} CC x MLO pairs ({int(pairs['same_lesion'].sum())} same lesion); "
        f"wrote {path}"
    )
    return 0


def _cmd_detect_evaluate(args: argparse.Namespace) -> int:
    from pathlib import Path

    from breastlab.detect.report import write_detection_report, write_detection_section
    from breastlab.detect.select import evaluate_inputs

    done = evaluate_inputs(
        args.store,
        args.detections,
        coco_gt=args.coco_gt,
        coco_results=args.coco_results,
        split=args.split,
        hit=args.hit,
        iou_threshold=args.iou,
    )
    print(done.evaluation.format())
    with folder_lock(args.out):  # the evaluation folder
        section = write_detection_section(done.evaluation, Path(args.out), done.store, settings=done.settings)
    print(f"wrote {section} (`breastlab report` section)")
    if args.html:
        print(f"wrote {write_detection_report(done.evaluation, args.html, done.store)}")
    return 0
