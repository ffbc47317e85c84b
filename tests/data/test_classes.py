"""Class names by data set; ImageNet's from the package data file."""

import pytest

from onebyone.data import FASHION_MNIST_CLASSES, class_names, imagenet_classes
from onebyone.errors import OneByOneError


def test_imagenet_classes_in_label_order():
    rows = imagenet_classes()
    wnids = [wnid for wnid, _ in rows]
    assert len(rows) == 1000 and wnids == sorted(wnids) and len(set(wnids)) == 1000
    names = class_names("imagenet")
    assert len(set(names)) == 1000  # the two names WordNet gives two classes are told apart
    # a few labels, as in the ILSVRC-2012 devkit
    assert rows[0] == ("n01440764", "tench")
    assert (names[281], names[285], names[967], names[968], names[999]) == (
        "tabby",
        "Egyptian cat",
        "espresso",
        "cup",
        "toilet tissue",
    )
    assert (names[134], names[517]) == ("crane (bird)", "crane (lifting)")


def test_small_data_sets():
    assert class_names("fashion-mnist") == FASHION_MNIST_CLASSES
    assert class_names("digits") == tuple("0123456789")


def test_unknown_list():
    with pytest.raises(OneByOneError, match="unknown class list 'cifar'; expected one of imagenet"):
        class_names("cifar")
