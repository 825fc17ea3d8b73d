"""review36 10: sandbox_names read a function's annotations inside its scope; Python evaluates them (and the
default values) in the enclosing scope, as sandbox_rewrite._scope_parts has them."""

import ast

from treecredit.sandbox_names import global_reads


def reads(text: str) -> set[str]:
    return global_reads(ast.parse(text))


def test_annotations_are_read_in_the_enclosing_scope():
    # a parameter named like its annotation does not hide the global the annotation reads
    assert {"add", "Result"} <= reads("def check(add: add) -> Result:\n    return add(1)\n")
    assert "solve" in reads("def check(*solve: solve, **kw: int) -> None:\n    pass\n")
    assert "T" in reads("lambda T=T: T\n") and "T" in reads("async def f(x: T = 0): pass\n")


def test_a_methods_annotations_and_defaults_see_the_class_body():
    text = ("class T:\n    Alias = int\n    k = 1\n"
            "    def m(self, x: Alias = k) -> Alias:\n        return x\n")
    assert not {"Alias", "k"} & reads(text)
    # the body does not see the class's names
    assert "k" in reads("class T:\n    k = 1\n    def m(self):\n        return k\n")


def test_a_functions_body_still_sees_its_parameters():
    assert reads("def f(x: int, y=2):\n    return x + y\n") == {"int"}
