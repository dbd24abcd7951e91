"""The folder to name in nnU-Net's ``nnUNet_extTrainer`` variable: its one module,
``lossbench_trainers``, answers every ``nnUNetTrainer_lb_<loss>`` class name
(``lossbench nnunet path`` prints the folder; ``lossbench nnunet install`` copies the module into
nnunetv2's own trainer folder instead)."""
