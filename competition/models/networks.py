"""Keras 3 networks as scikit-learn estimators: an MLP, a CNN, and the blog's two recipes.

Each class is a thin ``KerasClassifier``: hyperparameters in ``__init__`` (so ``get_params`` and
``set_params`` work), and one ``build`` method that returns a fresh ``keras.Model`` for an input
shape and class count, written like keras-io's ``mnist_convnet.py``. ``fit`` holds out a stratified
``validation_fraction`` of the rows it is given for early stopping on validation loss, and keeps
the best epoch's weights (the seed's ModelCheckpoint(save_best_only) + EarlyStopping, in memory).

Input, scaling and parameter checks are ``pixels.ImageClassifier``'s, shared with the tree models:
uint8 pixels / 255, other dtypes as given; impossible hyperparameters raise ``ParameterError``
before Keras is imported. Rows ``(N, F)`` reach the network as column images F pixels high and one
wide (``as_images``), so that the CNNs' left-right flips leave them as they are.

The networks are backend-neutral: ``KERAS_BACKEND`` when set, else TensorFlow where it is
installed (the fastest here, on CPU), else JAX, else PyTorch (``default_keras_backend``). No global
state beyond Keras' own session, which is cleared per fit.
"""

from __future__ import annotations

import math
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from numbers import Integral, Real

import numpy as np
from sklearn.utils._param_validation import Interval, Options, StrOptions

from .backend import default_keras_backend
from .pixels import NON_NEGATIVE_INT, POSITIVE, POSITIVE_INT, RATE, SEED, ImageClassifier, inner_split

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TensorFlow's start-up chatter (CUDA probing on CPU machines)
os.environ["KERAS_BACKEND"] = default_keras_backend()  # before Keras is imported: it reads the variable once

MIN_STEPS = 32  # steps an epoch should have at least, data allowing (``KerasClassifier._batch_size``)
MIN_BATCH = 16  # the smallest batch that rule makes: batch norm needs a few samples a batch
MAX_BUDGET_EPOCHS = 1000  # the most epochs a time budget may size
# The cnn's schedule when ``epochs`` is None (its default): 7 epochs where the rows are many (on
# 48,000 images, the most that five folds fit in ``make submit``'s 30 minutes on 2 slow cores), and
# more where they are few, so that training has at least ``AUTO_MIN_STEPS`` steps. Seven epochs of
# 720 images are 231 steps: 0.827 in 5-fold CV of a 900-image slice, against 0.864 with 60 epochs.
AUTO_EPOCHS = 7
AUTO_MIN_STEPS = 2000


class LayerSizes(Options):
    """Constraint: a tuple (or list) of ints >= 1, one per layer. scikit-learn's validation has no
    word for a sequence of sizes and accepts only its own constraint classes, hence an ``Options``."""

    def __init__(self):
        super().__init__(tuple, set())

    def is_satisfied_by(self, val) -> bool:
        return isinstance(val, (tuple, list)) and all(
            isinstance(size, Integral) and not isinstance(size, bool) and size >= 1 for size in val)

    def __str__(self) -> str:
        return "a tuple of ints >= 1"


def import_keras():
    """Keras, imported on first use so that tree models never pay for TensorFlow. The backend's
    C++ start-up messages (CUDA probing, oneDNN notices) go to the file descriptor 2 directly,
    before any log level applies, so stderr is muted at that level during the import."""
    if "keras" in sys.modules:
        return sys.modules["keras"]
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            import keras

            keras.backend.backend()  # the backend initialises here too
            if keras.backend.backend() == "tensorflow":  # its Python warnings (retracing notices) are noise here
                import tensorflow as tf

                tf.get_logger().setLevel("ERROR")
    finally:
        os.dup2(saved, 2)
        os.close(saved)
    return keras


def as_images(x: np.ndarray) -> np.ndarray:
    """Samples as (N, H, W, C) images: (N, H, W) gets one channel; rows (N, F) become columns
    F pixels high and one wide, so that left-right flips (augmentation, ``flip_tta``) leave them
    unchanged instead of swapping features. The MLPs flatten them back to the same F values."""
    return x.reshape(x.shape + (1,) * (4 - x.ndim))


class KerasClassifier(ImageClassifier):
    """Base: the training loop shared by every network. Subclasses define ``build``."""

    lr_patience = None  # epochs without progress before the learning rate drops 3x (None or 0: never)
    adapts_to_size = True  # smaller batches for small data (``_batch_size``); the blog's recipes keep theirs
    _parameter_constraints = {
        "dropout": [RATE],
        "epochs": [POSITIVE_INT],
        "batch_size": [POSITIVE_INT],
        "learning_rate": [POSITIVE],
        "patience": [NON_NEGATIVE_INT],
        "validation_fraction": [RATE],
        "random_state": [SEED],
        "verbose": [Interval(Integral, 0, 2, closed="both"), StrOptions({"auto"})],
    }

    def build(self, keras, input_shape: tuple, n_classes: int):
        raise NotImplementedError

    def fit(self, X, y):
        x, encoded = self._fit_inputs(X, y)
        x = as_images(x)
        keras = import_keras()
        keras.backend.clear_session()
        keras.utils.set_random_seed(self.random_state)
        if self.validation_fraction:
            train, valid = inner_split(encoded, self.validation_fraction, self.random_state)
        else:
            train, valid = np.arange(len(encoded)), None
        model = self.build(keras, x.shape[1:], len(self.classes_))
        history = self._train(keras, model, x, encoded, train, valid)
        self.model_ = model
        self.history_ = {k: [float(v) for v in values] for k, values in history.history.items()}
        self.best_iteration_ = self._best_epoch()
        return self

    def _best_epoch(self) -> int:
        """The epoch whose weights the model keeps (early stopping restores the best; without
        rows held out, the last)."""
        if "val_loss" not in self.history_:
            return len(self.history_["loss"])
        return int(np.argmin(self.history_["val_loss"])) + 1

    def refit_params(self, best_iteration: int | None) -> dict:
        return {"validation_fraction": 0.0, **({"epochs": best_iteration} if best_iteration else {})}

    def _batch_size(self, rows: int) -> int:
        """``batch_size``, made smaller for small data so that an epoch has ``MIN_STEPS`` steps
        when it can: a few hundred images in batches of 128 give 5 steps an epoch, too few for
        batch norm's statistics to settle before training ends."""
        if not self.adapts_to_size:
            return self.batch_size
        return max(1, min(self.batch_size, max(MIN_BATCH, rows // MIN_STEPS)))

    def _train(self, keras, model, x, encoded, train, valid):
        """Adam, early stopping on validation loss with the best epoch's weights restored, the
        learning rate cut 3x on plateaus (``lr_patience``): the MLPs' and the blog's loop. With no
        rows held out (a refit), ``epochs`` epochs at the learning rate given."""
        model.compile(optimizer=keras.optimizers.Adam(self.learning_rate),
                      loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        callbacks = []
        if valid is not None:
            callbacks.append(keras.callbacks.EarlyStopping(monitor="val_loss", patience=self.patience,
                                                           restore_best_weights=True))
        if valid is not None and self.lr_patience:
            callbacks.append(keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.3,
                                                               patience=self.lr_patience, min_lr=1e-5))
        validation = None if valid is None else (x[valid], encoded[valid])
        return model.fit(x[train], encoded[train], validation_data=validation, epochs=self.epochs,
                         batch_size=self._batch_size(len(train)), callbacks=callbacks + self._callbacks(),
                         verbose=self.verbose)

    def _callbacks(self) -> list:
        """Extra Keras callbacks for every fit (none here): the hook a benchmark uses to watch
        training without changing it."""
        return []

    def predict_proba(self, X) -> np.ndarray:
        """(N, len(classes_)) probabilities, columns in ``classes_`` order."""
        return self._predict_images(as_images(self._predict_inputs(X)))

    def _predict_images(self, x: np.ndarray) -> np.ndarray:
        proba = np.asarray(self.model_.predict(**in_batches(x, batch=1024), verbose=0), dtype=np.float64)
        return proba / proba.sum(axis=1, keepdims=True)  # float32 softmax sums to 1 only roughly


class MLP(KerasClassifier):
    """Dense layers over the flattened image, with dropout and batch normalisation."""

    _parameter_constraints = {**KerasClassifier._parameter_constraints, "hidden": [LayerSizes()],
                              "lr_patience": [NON_NEGATIVE_INT, None]}

    def __init__(self, hidden=(512, 256), dropout=0.3, epochs=40, batch_size=256, learning_rate=1e-3,
                 patience=6, lr_patience=2, validation_fraction=0.1, random_state=87, verbose=2):
        self.hidden, self.dropout, self.epochs, self.batch_size = hidden, dropout, epochs, batch_size
        self.learning_rate, self.patience, self.lr_patience = learning_rate, patience, lr_patience
        self.validation_fraction, self.random_state, self.verbose = validation_fraction, random_state, verbose

    def build(self, keras, input_shape, n_classes):
        layers = keras.layers
        inputs = keras.Input(shape=input_shape)
        x = layers.Flatten()(inputs)
        for units in self.hidden:
            x = layers.Dense(units, use_bias=False)(x)
            x = layers.BatchNormalization(momentum=0.9)(x)
            x = layers.Activation("relu")(x)
            x = layers.Dropout(self.dropout)(x)
        return keras.Model(inputs, layers.Dense(n_classes, activation="softmax")(x))


class BlogMLP(MLP):
    """The blog's MLP: Dense 1000-800-500-300-200-100-50 with dropout 0.2, Adam, batch 500."""

    adapts_to_size = False

    def __init__(self, hidden=(1000, 800, 500, 300, 200, 100, 50), dropout=0.2, epochs=500, batch_size=500,
                 learning_rate=1e-3, patience=50, lr_patience=None, validation_fraction=0.2, random_state=87,
                 verbose=2):
        super().__init__(hidden, dropout, epochs, batch_size, learning_rate, patience, lr_patience,
                         validation_fraction, random_state, verbose)

    def build(self, keras, input_shape, n_classes):
        layers = keras.layers
        inputs = keras.Input(shape=input_shape)
        x = layers.Flatten()(inputs)
        for i, units in enumerate(self.hidden):
            x = layers.Dense(units, activation="relu")(x)
            if i < len(self.hidden) - 1:  # the recipe has no dropout after its last hidden layer
                x = layers.Dropout(self.dropout)(x)
        return keras.Model(inputs, layers.Dense(n_classes, activation="softmax")(x))


def pool_if_room(layers, x, min_size: int = 4):
    """2x2 max-pooling, unless the feature map is already smaller than ``min_size``: an 8x8
    image then gets pooled twice, not to nothing."""
    height, width = x.shape[1], x.shape[2]
    return layers.MaxPooling2D(2)(x) if min(height, width) >= min_size else x


class CNN(KerasClassifier):
    """Stages of ``convs`` 3x3 conv + batch norm + ReLU, pooled between stages, global average
    pooling, dropout, softmax; ``width`` filters in the first stage, doubling per stage. The first
    stage, at the image's full size, has ``first_convs`` convs (None: ``convs``): its few channels
    over many pixels make it the slowest per operation on a CPU, so the default gives it one.

    Trained for a fixed length, as the fast Fashion-MNIST and CIFAR recipes are: AdamW with
    ``weight_decay``, one warm-up epoch then a cosine decay of the learning rate to zero, label
    smoothing. ``epochs`` None (the default) is ``AUTO_EPOCHS``, or more on few rows
    (``schedule_epochs``). Augmentation, off by default (on a schedule this short it only slows the
    network down), is made on the host in NumPy, a new copy of the images each epoch (``augment``:
    random left-right ``flip``, a random ``shift`` of up to that many pixels per image, random
    ``erase`` of a rectangle), so the network's own graph stays the plain one on every backend. With
    ``validation_fraction`` 0 (the default) every row given trains; a fraction above 0 holds those
    rows out to watch (``val_*`` in the history), never to stop early. ``time_budget`` (seconds)
    sizes the epochs after the first one is timed: as many as fit, the schedule stretched to them.
    ``flip_tta`` averages each image's prediction with its mirror image's (when training flipped)."""

    _parameter_constraints = {**KerasClassifier._parameter_constraints, "width": [POSITIVE_INT],
                              "stages": [POSITIVE_INT], "convs": [POSITIVE_INT],
                              "first_convs": [POSITIVE_INT, None], "flip": ["boolean"],
                              "shift": [NON_NEGATIVE_INT], "erase": [Interval(Real, 0, 1, closed="both")],
                              "flip_tta": ["boolean"], "epochs": [POSITIVE_INT, None],
                              "weight_decay": [Interval(Real, 0, None, closed="left")],
                              "label_smoothing": [RATE], "time_budget": [POSITIVE, None],
                              "validation_fraction": [RATE]}

    def __init__(self, width=16, stages=3, convs=2, first_convs=1, dropout=0.1, flip=False, shift=0, erase=0.0,
                 flip_tta=True, epochs=None, batch_size=128, learning_rate=6e-3, weight_decay=5e-4,
                 label_smoothing=0.1, time_budget=None, validation_fraction=0.0, random_state=87, verbose=2):
        self.width, self.stages, self.convs, self.first_convs, self.dropout = width, stages, convs, first_convs, dropout
        self.flip, self.shift, self.erase, self.flip_tta = flip, shift, erase, flip_tta
        self.epochs, self.batch_size, self.learning_rate, self.weight_decay = (epochs, batch_size, learning_rate,
                                                                               weight_decay)
        self.label_smoothing, self.time_budget, self.validation_fraction = (label_smoothing, time_budget,
                                                                            validation_fraction)
        self.random_state, self.verbose = random_state, verbose

    def build(self, keras, input_shape, n_classes):
        layers = keras.layers
        inputs = keras.Input(shape=input_shape)
        x = inputs
        for stage in range(self.stages):
            if stage:
                x = pool_if_room(layers, x)
            for _ in range(self.convs if stage or self.first_convs is None else self.first_convs):
                x = layers.Conv2D(self.width * 2**stage, 3, padding="same", use_bias=False)(x)
                x = layers.BatchNormalization(momentum=0.9)(x)
                x = layers.Activation("relu")(x)
        x = layers.GlobalAveragePooling2D()(x)
        x = layers.Dropout(self.dropout)(x)
        return keras.Model(inputs, layers.Dense(n_classes, activation="softmax")(x))

    def _train(self, keras, model, x, encoded, train, valid):
        """One ``fit`` call per epoch, each on a freshly shuffled and augmented copy of the training
        images, in order (``in_batches``; a Python ``PyDataset`` feeding batches doubled the epoch). A
        thread makes the next epoch's copy while this one trains: NumPy lets go of the GIL, and
        TensorFlow leaves a quarter of a core idle."""
        n_classes = len(self.classes_)
        batch = self._batch_size(len(train))
        images = x.shape[2] > 1  # not rows reshaped to columns (``as_images``): moving those would scramble features
        shift, erase = (self.shift, self.erase) if images else (0, 0.0)
        rng = np.random.default_rng(self.random_state)
        x_train, y_train = x[train], one_hot(encoded[train], n_classes)
        steps = -(-len(train) // batch)
        schedule = warmup_cosine(keras, self.learning_rate, steps, schedule_epochs(self.epochs, steps))
        model.compile(optimizer=keras.optimizers.AdamW(schedule, weight_decay=self.weight_decay),
                      loss=keras.losses.CategoricalCrossentropy(label_smoothing=self.label_smoothing),
                      metrics=["accuracy"])
        validation = None if valid is None else (x[valid], one_hot(encoded[valid], n_classes))
        callbacks = [*self._callbacks(), one_epoch(keras)]
        history: dict[str, list] = {}

        def next_epoch() -> tuple[np.ndarray, np.ndarray]:
            order = rng.permutation(len(x_train))  # shuffled here: see the docstring
            return augment(x_train[order], rng, flip=self.flip, shift=shift, erase=erase), y_train[order]

        epoch = 0
        with ThreadPoolExecutor(1) as host:  # the next epoch's images made while this one trains
            coming = host.submit(next_epoch)
            while epoch < schedule.epochs:
                started = time.perf_counter()
                images, labels = coming.result()
                coming = host.submit(next_epoch)  # one in order after another: the same draws every run
                done = model.fit(**in_batches(images, labels, batch=batch), epochs=schedule.epochs, initial_epoch=epoch,
                                 validation_data=validation, callbacks=callbacks, verbose=self.verbose)
                for key, values in done.history.items():
                    history.setdefault(key, []).extend(values)
                if epoch == 0 and self.time_budget is not None:
                    schedule.epochs = epochs_within(self.time_budget, time.perf_counter() - started)
                    model.train_function = None  # traced again, with the schedule stretched to the new end
                if epoch == 0 and self.verbose:
                    print(first_epoch_note(time.perf_counter() - started, schedule.epochs), flush=True)
                epoch += 1
        done.history = history
        return done

    def _best_epoch(self) -> int:
        return len(self.history_["loss"])  # a fixed schedule keeps its last weights

    def refit_params(self, best_iteration: int | None) -> dict:
        """The folds' epoch count (a time budget sized it per fold), on every row."""
        return {**super().refit_params(best_iteration), "time_budget": None}

    def _predict_images(self, x: np.ndarray) -> np.ndarray:
        proba = super()._predict_images(x)
        if self.flip_tta and self.flip:
            proba = (proba + super()._predict_images(x[:, :, ::-1])) / 2
        return proba


def in_batches(x: np.ndarray, y: np.ndarray | None = None, *, batch: int) -> dict:
    """``fit`` or ``predict`` arguments for the arrays in order, in batches of ``batch``. On
    TensorFlow a ``tf.data`` pipeline without autotuning: the one Keras builds from arrays
    autotunes, and its tuning thread held up the end of every ``fit`` and ``predict`` by 1 to 20 s
    (48,000 images: epochs of 13 s took 17 s on average). Elsewhere the arrays, as Keras takes them."""
    import keras

    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        options = tf.data.Options()
        options.autotune.enabled = False
        data = tf.data.Dataset.from_tensor_slices(x if y is None else (x, y))
        arguments = {"x": data.batch(batch).prefetch(2).with_options(options)}
    else:
        arguments = {"x": x, "batch_size": batch} if y is None else {"x": x, "y": y, "batch_size": batch}
    return arguments if y is None else {**arguments, "shuffle": False}  # fit's: the order is the one given


def one_epoch(keras):
    """A callback that ends ``fit`` after the epoch it started: the CNN calls ``fit`` once an epoch
    with the schedule's whole length as ``epochs``, so that Keras' log reads "Epoch 2/24", not
    "Epoch 2/2"."""

    class OneEpoch(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            self.model.stop_training = True

    return OneEpoch()


def one_hot(encoded: np.ndarray, n_classes: int) -> np.ndarray:
    return np.eye(n_classes, dtype=np.float32)[encoded]


def augment(images: np.ndarray, rng: np.random.Generator, *, flip: bool, shift: int, erase: float) -> np.ndarray:
    """A randomly flipped, shifted and erased copy of images ``(N, H, W, C)``: each image flipped
    left-right with probability 1/2, shifted by up to ``shift`` pixels each way (zeros fill in),
    and with probability ``erase`` a random rectangle of 1/5 to 1/2 its sides set to noise.
    Vectorised NumPy, per image: Keras' RandomTranslation layer made an epoch 2.5x slower on a
    CPU, and its RandomCrop moves a whole batch by one offset."""
    n, height, width = images.shape[:3]
    out = images.copy()
    if flip:
        flipped = rng.random(n) < 0.5
        out[flipped] = out[flipped, :, ::-1]
    if shift:
        padded = np.pad(out, ((0, 0), (shift, shift), (shift, shift), (0, 0)))
        top, left = rng.integers(0, 2 * shift + 1, n), rng.integers(0, 2 * shift + 1, n)
        for dy in range(2 * shift + 1):  # one slice per offset: whole-image copies, not a per-pixel gather
            for dx in range(2 * shift + 1):
                moved = np.flatnonzero((top == dy) & (left == dx))
                out[moved] = padded[moved, dy:dy + height, dx:dx + width]
    for i in np.flatnonzero(rng.random(n) < erase):
        h, w = (rng.integers(max(1, side // 5), max(2, side // 2 + 1)) for side in (height, width))
        top, left = rng.integers(0, height - h + 1), rng.integers(0, width - w + 1)
        out[i, top:top + h, left:left + w] = rng.random((h, w, out.shape[3]))
    return out


def warmup_cosine(keras, peak: float, steps_per_epoch: int, epochs: int):
    """A Keras learning-rate schedule: a linear warm-up over the first epoch from 1/10 of ``peak``,
    then a cosine decay to zero at the end of the last epoch. Computed inside the training step
    from the optimizer's step count, so it holds on every backend (a callback assigning the rate
    each batch is lost on JAX, which carries the optimizer's state through an epoch). Its
    ``epochs`` may be changed between ``fit`` calls; the train function must then be traced again."""

    class WarmupCosine(keras.optimizers.schedules.LearningRateSchedule):
        def __init__(self):
            self.peak, self.steps_per_epoch, self.epochs = peak, steps_per_epoch, epochs

        def __call__(self, step):
            ops = keras.ops
            step = ops.cast(step, "float32")
            warmup = float(self.steps_per_epoch)
            rising = self.peak * (0.1 + 0.9 * step / warmup)
            progress = ops.minimum(1.0, (step - warmup) / max(1.0, (self.epochs - 1) * warmup))
            return ops.where(step < warmup, rising, self.peak * 0.5 * (1 + ops.cos(math.pi * progress)))

        def get_config(self):
            return {"peak": self.peak, "steps_per_epoch": self.steps_per_epoch, "epochs": self.epochs}

    return WarmupCosine()


def schedule_epochs(epochs: int | None, steps_per_epoch: int) -> int:
    """``epochs`` as given, or for None ``AUTO_EPOCHS``, raised on few rows to ``AUTO_MIN_STEPS``
    steps in all: there an epoch costs little, and 7 of them learn too little."""
    return epochs if epochs is not None else max(AUTO_EPOCHS, -(-AUTO_MIN_STEPS // steps_per_epoch))


def first_epoch_note(seconds: float, epochs: int) -> str:
    """What a person watching a long fit wants after its first epoch: about when it ends, and that
    Keras's ``accuracy`` is on the (augmented) training rows, not the held-out score."""
    left = seconds * (epochs - 1)
    return (f"first epoch took {seconds:.0f} s: about {left / 60:.1f} min more for the other {epochs - 1} epoch(s) of "
            "this fit. Keras's accuracy is on the training rows (augmented); each fold's held-out score is "
            "printed when the fold ends")


def epochs_within(budget: float, first_epoch_seconds: float) -> int:
    """How many epochs a ``budget`` of seconds holds at the first epoch's pace (2 at least: the
    warm-up alone is no training)."""
    return max(2, min(MAX_BUDGET_EPOCHS, int(budget // first_epoch_seconds)))


class BlogCNN(KerasClassifier):
    """The blog's CNN: 4 blocks of Conv2D 64/64/128/128 (kernel 2, same) + BatchNorm + MaxPool +
    Dropout 0.3, then Dense 1024-512-256 with dropout 0.5; Adam, batch 500."""

    adapts_to_size = False

    _parameter_constraints = {**KerasClassifier._parameter_constraints, "filters": [LayerSizes()],
                              "dense": [LayerSizes()], "dense_dropout": [RATE]}

    def __init__(self, filters=(64, 64, 128, 128), dense=(1024, 512, 256), dropout=0.3, dense_dropout=0.5,
                 epochs=500, batch_size=500, learning_rate=1e-3, patience=50, validation_fraction=0.2,
                 random_state=87, verbose=2):
        self.filters, self.dense, self.dropout, self.dense_dropout = filters, dense, dropout, dense_dropout
        self.epochs, self.batch_size, self.learning_rate, self.patience = epochs, batch_size, learning_rate, patience
        self.validation_fraction, self.random_state, self.verbose = validation_fraction, random_state, verbose

    def build(self, keras, input_shape, n_classes):
        layers = keras.layers
        inputs = keras.Input(shape=input_shape)
        x = inputs
        for filters in self.filters:
            x = layers.Conv2D(filters, 2, padding="same", activation="relu")(x)
            x = layers.BatchNormalization()(x)
            x = pool_if_room(layers, x, min_size=2)
            x = layers.Dropout(self.dropout)(x)
        x = layers.Flatten()(x)
        for units in self.dense:
            x = layers.Dense(units, activation="relu")(x)
        x = layers.Dropout(self.dense_dropout)(x)
        return keras.Model(inputs, layers.Dense(n_classes, activation="softmax")(x))
