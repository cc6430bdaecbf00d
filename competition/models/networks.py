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

The networks are backend-neutral: TensorFlow on CPU here, JAX or PyTorch elsewhere
(``KERAS_BACKEND``). No global state beyond Keras' own session, which is cleared per fit.
"""

from __future__ import annotations

import os
import sys
from numbers import Integral, Real

import numpy as np
from sklearn.utils._param_validation import Interval, Options, StrOptions

from .pixels import FRACTION, NON_NEGATIVE_INT, POSITIVE, POSITIVE_INT, SEED, ImageClassifier, inner_split

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TensorFlow's start-up chatter (CUDA probing on CPU machines)
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

RATE = Interval(Real, 0, 1, closed="left")  # a dropout rate: 1 would drop everything


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
    _parameter_constraints = {
        "dropout": [RATE],
        "epochs": [POSITIVE_INT],
        "batch_size": [POSITIVE_INT],
        "learning_rate": [POSITIVE],
        "patience": [NON_NEGATIVE_INT],
        "validation_fraction": [FRACTION],
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
        train, valid = inner_split(encoded, self.validation_fraction, self.random_state)
        model = self.build(keras, x.shape[1:], len(self.classes_))
        model.compile(optimizer=keras.optimizers.Adam(self.learning_rate),
                      loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        callbacks = [keras.callbacks.EarlyStopping(monitor="val_loss", patience=self.patience,
                                                   restore_best_weights=True)]
        if self.lr_patience:
            callbacks.append(keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.3,
                                                               patience=self.lr_patience, min_lr=1e-5))
        history = model.fit(x[train], encoded[train], validation_data=(x[valid], encoded[valid]),
                            epochs=self.epochs, batch_size=self.batch_size, callbacks=callbacks, verbose=self.verbose)
        self.model_ = model
        self.history_ = {k: [float(v) for v in values] for k, values in history.history.items()}
        self.best_iteration_ = int(np.argmin(self.history_["val_loss"])) + 1
        return self

    def predict_proba(self, X) -> np.ndarray:
        """(N, len(classes_)) probabilities, columns in ``classes_`` order."""
        return self._predict_images(as_images(self._predict_inputs(X)))

    def _predict_images(self, x: np.ndarray) -> np.ndarray:
        proba = np.asarray(self.model_.predict(x, batch_size=1024, verbose=0), dtype=np.float64)
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


class SeedMLP(MLP):
    """The blog's MLP: Dense 1000-800-500-300-200-100-50 with dropout 0.2, Adam, batch 500."""

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
    """Stages of two 3x3 conv + batch norm + ReLU, pooled between stages, global average pooling,
    dropout, softmax. ``width`` filters in the first stage, doubling per stage. ``augment``: True
    flips images left-right at random while training, ``"shift"`` also shifts them by up to 10%
    (2.5x slower on a CPU), False neither. ``flip_tta`` averages the prediction of each image with
    that of its mirror image (test-time augmentation; only when training flipped images too)."""

    _parameter_constraints = {**KerasClassifier._parameter_constraints, "width": [POSITIVE_INT],
                              "stages": [POSITIVE_INT], "augment": ["boolean", StrOptions({"shift"})],
                              "flip_tta": ["boolean"], "lr_patience": [NON_NEGATIVE_INT, None]}

    def __init__(self, width=16, stages=3, dropout=0.3, augment=True, flip_tta=True, epochs=15, batch_size=128,
                 learning_rate=2e-3, patience=4, lr_patience=2, validation_fraction=0.1, random_state=87,
                 verbose=2):
        self.width, self.stages, self.dropout, self.augment, self.flip_tta = width, stages, dropout, augment, flip_tta
        self.epochs, self.batch_size, self.learning_rate, self.patience = epochs, batch_size, learning_rate, patience
        self.lr_patience, self.validation_fraction = lr_patience, validation_fraction
        self.random_state, self.verbose = random_state, verbose

    def build(self, keras, input_shape, n_classes):
        layers = keras.layers
        inputs = keras.Input(shape=input_shape)
        x = inputs
        if self.augment:
            x = layers.RandomFlip("horizontal", seed=self.random_state)(x)
        if self.augment == "shift":
            x = layers.RandomTranslation(0.1, 0.1, fill_mode="constant", seed=self.random_state)(x)
        for stage in range(self.stages):
            if stage:
                x = pool_if_room(layers, x)
            for _ in range(2):
                x = layers.Conv2D(self.width * 2**stage, 3, padding="same", use_bias=False)(x)
                x = layers.BatchNormalization(momentum=0.9)(x)
                x = layers.Activation("relu")(x)
        x = layers.GlobalAveragePooling2D()(x)
        x = layers.Dropout(self.dropout)(x)
        return keras.Model(inputs, layers.Dense(n_classes, activation="softmax")(x))

    def _predict_images(self, x: np.ndarray) -> np.ndarray:
        proba = super()._predict_images(x)
        if self.flip_tta and self.augment:
            proba = (proba + super()._predict_images(x[:, :, ::-1])) / 2
        return proba


class SeedCNN(KerasClassifier):
    """The blog's CNN: 4 blocks of Conv2D 64/64/128/128 (kernel 2, same) + BatchNorm + MaxPool +
    Dropout 0.3, then Dense 1024-512-256 with dropout 0.5; Adam, batch 500."""

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
