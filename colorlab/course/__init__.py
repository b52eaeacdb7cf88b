"""The course's teaching helpers: one module per chapter that has helpers, plus one shared figure kit.

The notebooks keep their cells short by calling these; the model, the losses and the pipelines they teach live in
the rest of ``colorlab``. A helper several chapters use lives in the earliest chapter that introduces it (a
figure: in :mod:`~colorlab.course.figures`). Each notebook imports a chapter module as ``courseNN`` (``chNN`` is
the chapter's exercises, :mod:`colorlab.exercises`)::

    from colorlab.course import ch03_correspondence as course03
    from colorlab.course import figures

==============================================  ==================================================================
notebook                                        helpers
==============================================  ==================================================================
00 · A tour                                     :mod:`~colorlab.course.figures`
01 · The Lab colour space                       :mod:`~colorlab.course.figures` (ab planes, gamut, histograms)
02 · Data: Places365 and pairs                  :mod:`~colorlab.course.ch02_data` (the samples as a Places365
                                                folder), :mod:`~colorlab.course.figures`
03 · The encoder and the correspondence         :mod:`~colorlab.course.ch03_correspondence` (view pairs, attention)
04 · GCFN: the gated colour fusion              :mod:`~colorlab.course.ch04_gcfn` (gate statistics, blending),
                                                and chapter 03's pairs and colour helpers
05 · MCN: decoding colour at three scales       :mod:`~colorlab.course.ch05_mcn` (transposed convolutions, the
                                                decoder alone)
06 · The patch discriminator                    :mod:`~colorlab.course.ch06_discriminator` (receptive fields), and
                                                chapter 05's photos
07 · The five losses                            :mod:`~colorlab.course.ch07_losses` (the loss-weight playground)
08 · Training Gray2ColorNet                     chapter 02's folder, :mod:`~colorlab.course.figures`
09 · Evaluation: metrics, baselines, ablations  :mod:`~colorlab.course.ch09_evaluation` (an offline dev set, the
                                                no-gate ablation), and chapter 07's playground
10 · Video: colours that do not flicker         :mod:`~colorlab.course.ch10_video` (the propagation, made visible)
11 · Adapting to the reference                  :mod:`~colorlab.course.figures` (the chapter teaches
                                                :mod:`colorlab.adapt` and :mod:`colorlab.inference`)
==============================================  ==================================================================

Beside them, :mod:`colorlab.course.kit` is the instructor kit behind ``colorlab course release`` and ``colorlab course
grade`` (student notebooks without the solutions; grades from handed-in notebooks; see ``INSTRUCTORS.md``).

Importing ``colorlab.course`` imports none of these modules; each imports what it needs (matplotlib, Keras) itself.
"""
