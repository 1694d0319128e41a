"""COCO evaluation of the tasks a model has, with or without detectron2's C++ evaluator."""

from detectron2.evaluation import COCOEvaluator

from .utils.compat import has_fast_coco_eval


def coco_tasks(cfg):
    """The COCO tasks the model of ``cfg`` predicts: bbox, plus segm and keypoints if on."""
    tasks = ["bbox"]
    if cfg.MODEL.MASK_ON:
        tasks.append("segm")
    if cfg.MODEL.KEYPOINT_ON:
        tasks.append("keypoints")
    return tuple(tasks)


def build_coco_evaluator(cfg, dataset_name, output_folder=None):
    """
    detectron2's ``COCOEvaluator`` for the tasks the model has; uses pycocotools' evaluator when
    detectron2's C++ one is absent.
    """
    return COCOEvaluator(
        dataset_name,
        tasks=coco_tasks(cfg),
        distributed=True,
        output_dir=output_folder,
        use_fast_impl=has_fast_coco_eval(),
        kpt_oks_sigmas=cfg.TEST.KEYPOINT_OKS_SIGMAS,
    )
