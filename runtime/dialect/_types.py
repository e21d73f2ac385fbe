"""Type expressions of Wippy's Lua: parsed from tokens into a small tree.

The grammar is the one Wippy's parser accepts (unions, intersections, optionals, literal types,
arrays ``{T}`` / ``T[]``, maps ``{[K]: V}``, records with ``?:`` fields, function types
``(a: T, ...U) -> R`` and ``fun(...): R``, generics ``Name<T>``, ``readonly`` and ``interface``
tables, ``typeof(expr)``, ``keyof(T)``, index access ``T[K]``, conditional types
``A extends B ? X : Y``, ``asserts x is T``, and ``@validator(args)`` annotations). The tree is
what a runtime type value is built from (``_emit.py``); erasure only needs the span a type
covers, which the parser's position tells.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from runtime.dialect._lexer import EOF, LUA_KEYWORDS, NAME, NUMBER, OP, STRING, Token


class TypeSyntaxError(Exception):
    """A type expression that does not parse; ``token`` is where it went wrong."""

    def __init__(self, message: str, token: Token) -> None:
        super().__init__(message)
        self.message = message
        self.token = token


# -- the tree ------------------------------------------------------------------------------------


@dataclass(slots=True)
class Annotation:
    """``@name(args)``: ``args`` is the Lua source of the argument list (without parentheses)."""

    name: str
    args: str | None


@dataclass(slots=True)
class TypeNode:
    """Base of every type node; ``annotations`` are the validators written after it."""

    annotations: list[Annotation] = field(default_factory=list, kw_only=True)


@dataclass(slots=True)
class Named(TypeNode):
    """A name (``number``, ``Point``), a qualified name (``mod.T``) or a generic use
    (``Box<number>``)."""

    path: tuple[str, ...]
    args: list[TypeNode] = field(default_factory=list)


@dataclass(slots=True)
class Literal(TypeNode):
    """A literal type: ``"pending"``, ``42``, ``true``; ``source`` is its Lua text."""

    source: str


@dataclass(slots=True)
class Optional(TypeNode):
    inner: TypeNode


@dataclass(slots=True)
class Union(TypeNode):
    members: list[TypeNode]


@dataclass(slots=True)
class Intersection(TypeNode):
    members: list[TypeNode]


@dataclass(slots=True)
class Array(TypeNode):
    element: TypeNode
    readonly: bool = False


@dataclass(slots=True)
class Map(TypeNode):
    key: TypeNode
    value: TypeNode
    readonly: bool = False


@dataclass(slots=True)
class Field:
    """A record field; ``annotations`` are its validators."""

    name: str
    type: TypeNode
    optional: bool = False
    annotations: list[Annotation] = field(default_factory=list)


@dataclass(slots=True)
class Record(TypeNode):
    fields: list[Field]
    readonly: bool = False


@dataclass(slots=True)
class Function(TypeNode):
    """A function type; parameters are ``(name or None, type)``, a vararg named ``...``."""

    params: list[tuple[str | None, TypeNode]]
    returns: list[TypeNode] | None


@dataclass(slots=True)
class Opaque(TypeNode):
    """A type only a checker can compute (``typeof``, ``keyof``, ``T[K]``, conditional types,
    ``asserts``): at run time it accepts any value. ``expr`` is the Lua text inside
    ``typeof(...)``."""

    form: str
    expr: str = ""


# -- the parser ----------------------------------------------------------------------------------


class TypeParser:
    """Parses type expressions out of a shared token list, from ``pos`` on.

    ``source`` is the text the tokens came from (annotation arguments and ``typeof``
    expressions are kept as text). ``pos`` is left on the first token after what was parsed.
    """

    def __init__(self, tokens: list[Token], source: str, pos: int = 0) -> None:
        self.tokens = tokens
        self.source = source
        self.pos = pos

    # -- helpers -------------------------------------------------------------------------------
    def peek(self, ahead: int = 0) -> Token:
        # The token list ends with LOOKAHEAD EOF tokens, and `take` never passes the first.
        return self.tokens[self.pos + ahead]

    def at(self, text: str, ahead: int = 0) -> bool:
        # A string or number token's text never equals an operator or a word.
        return self.tokens[self.pos + ahead].text == text

    def take(self) -> Token:
        tok = self.peek()
        if tok.kind != EOF:
            self.pos += 1
        return tok

    def expect(self, text: str, what: str | None = None) -> Token:
        if not self.at(text):
            raise TypeSyntaxError(f"'{text}' expected{f' ({what})' if what else ''}", self.peek())
        return self.take()

    def close_angle(self) -> None:
        """Take one ``>``, splitting a ``>>`` that closes two generic lists at once."""
        tok = self.peek()
        if tok.kind == OP and tok.text == ">>":
            self.tokens[self.pos] = Token(OP, ">", tok.start + 1, tok.end)
            return
        self.expect(">", "to close the type arguments")

    def skip_balanced(self) -> str:
        """Skip ``( ... )`` starting at ``(``; return the text between the parentheses."""
        open_tok = self.expect("(")
        depth = 1
        while depth:
            tok = self.take()
            if tok.kind == EOF:
                raise TypeSyntaxError("')' expected to close '('", open_tok)
            if tok.kind == OP and tok.text in ("(", "[", "{"):
                depth += 1
            elif tok.kind == OP and tok.text in (")", "]", "}"):
                depth -= 1
        return self.source[open_tok.end : self.tokens[self.pos - 1].start]

    # -- grammar -------------------------------------------------------------------------------
    def parse_type(self) -> TypeNode:
        """``typeexpr``: simple types joined by ``|`` / ``&``, or a conditional type."""
        first = self.parse_simple()
        if self.at("extends"):
            self.take()
            # The constraint stops before the conditional's `?` (it is not an optional).
            self.parse_primary()
            self.parse_annotations()
            self.expect("?", "in a conditional type")
            self.parse_type()
            self.expect(":", "in a conditional type")
            self.parse_type()
            return Opaque("conditional")
        node = first
        while self.at("|") or self.at("&"):
            op = self.take().text
            member = self.parse_simple()
            if op == "|":
                if isinstance(node, Union) and not node.annotations:
                    node.members.append(member)
                else:
                    node = Union([node, member])
            elif isinstance(node, Intersection) and not node.annotations:
                node.members.append(member)
            else:
                node = Intersection([node, member])
        return node

    def parse_simple(self) -> TypeNode:
        """``simpletypeexpr``: a primary type, its annotations, then any number of ``?``."""
        node = self.parse_primary()
        while True:
            annotations = self.parse_annotations()
            if annotations:
                node.annotations.extend(annotations)
            elif self.at("?"):
                # Wippy puts validators before `?`; after it reads the same, so it is allowed.
                self.take()
                node = Optional(node)
            elif self.at("[") and isinstance(node, Optional):
                node = self.parse_postfix(node)  # `T?[]`: an array of optionals
            else:
                return node

    def parse_annotations(self) -> list[Annotation]:
        found = []
        while self.at("@"):
            self.take()
            name = self.take()
            if name.kind != NAME:
                raise TypeSyntaxError("validator name expected after '@'", name)
            args = self.skip_balanced() if self.at("(") else None
            found.append(Annotation(name.text, args.strip() if args is not None else None))
        return found

    def parse_primary(self) -> TypeNode:
        tok = self.peek()
        node: TypeNode
        if tok.kind in (STRING, NUMBER):
            self.take()
            node = Literal(tok.text)
        elif tok.kind == NAME and tok.text in ("nil", "true", "false"):
            self.take()
            node = Named(("nil",)) if tok.text == "nil" else Literal(tok.text)
        elif tok.kind == NAME and tok.text not in LUA_KEYWORDS:
            node = self.parse_named()
        elif tok.kind == OP and tok.text == "{":
            node = self.parse_table(readonly=False)
        elif tok.kind == OP and tok.text == "(":
            node = self.parse_function_type()
        else:
            raise TypeSyntaxError("type expected", tok)
        return self.parse_postfix(node)

    def parse_postfix(self, node: TypeNode) -> TypeNode:
        """``T[]`` (array of T) and ``T[K]`` (index access), any number of times."""
        while self.at("["):
            self.take()
            if self.at("]"):
                self.take()
                node = Array(node)
            else:
                self.parse_type()
                self.expect("]", "to close the index access")
                node = Opaque("index")
        return node

    def parse_named(self) -> TypeNode:
        tok = self.take()
        word = tok.text
        if word == "fun" and self.at("("):
            return self.parse_fun()
        if word == "typeof" and self.at("("):
            return Opaque("typeof", self.skip_balanced().strip())
        if word == "keyof" and self.at("("):
            self.take()
            self.parse_type()
            self.expect(")", "to close keyof(")
            return Opaque("keyof")
        if word == "readonly" and self.at("{"):
            return self.parse_table(readonly=True)
        if word == "interface" and self.at("{"):
            return self.parse_table(readonly=False)
        if word == "asserts" and self.peek().kind == NAME:
            self.take()
            if self.at("is"):
                self.take()
                self.parse_type()
            return Opaque("asserts")
        path: tuple[str, ...] = (word,)
        if self.at(".") and self.peek(1).kind == NAME:
            self.take()
            path = (word, self.take().text)
        args: list[TypeNode] = []
        if self.at("<"):
            self.take()
            args.append(self.parse_type())
            while self.at(","):
                self.take()
                args.append(self.parse_type())
            self.close_angle()
        return Named(path, args)

    def parse_table(self, readonly: bool) -> TypeNode:
        self.expect("{")
        if self.at("}"):
            self.take()
            return Record([], readonly)
        if self.at("["):
            self.take()
            key = self.parse_type()
            self.expect("]", "to close the map's key type")
            self.expect(":", "between a map's key and value types")
            value = self.parse_type()
            self.expect("}", "to close the map type")
            return Map(key, value, readonly)
        first, second = self.peek(), self.peek(1)
        if first.kind == NAME and second.kind == OP and second.text in (":", "?:"):
            return self.parse_record(readonly)
        element = self.parse_type()
        self.expect("}", "to close the array type")
        return Array(element, readonly)

    def parse_record(self, readonly: bool) -> Record:
        fields: list[Field] = []
        while not self.at("}"):
            name = self.take()
            if name.kind != NAME:
                raise TypeSyntaxError("field name expected in a record type", name)
            sep = self.take()
            if sep.kind != OP or sep.text not in (":", "?:"):
                raise TypeSyntaxError(f"':' expected after field '{name.text}'", sep)
            ftype = self.parse_type()
            fields.append(Field(name.text, ftype, sep.text == "?:", self.parse_annotations()))
            if self.at(",") or self.at(";"):
                self.take()
            elif not self.at("}"):
                raise TypeSyntaxError("'}' or ',' expected in a record type", self.peek())
        self.take()
        return Record(fields, readonly)

    def parse_params(self) -> list[tuple[str | None, TypeNode]]:
        """A function type's parameters, after its ``(`` up to and including ``)``."""
        params: list[tuple[str | None, TypeNode]] = []
        while not self.at(")"):
            if self.at("..."):
                self.take()
                params.append(("...", self.parse_type()))
            elif self.peek().kind == NAME and self.at(":", 1):
                name = self.take().text
                self.take()
                params.append((name, self.parse_type()))
            else:
                params.append((None, self.parse_type()))
            if self.at(","):
                self.take()
            elif not self.at(")"):
                raise TypeSyntaxError("')' or ',' expected in a function type", self.peek())
        self.take()
        return params

    def parse_function_type(self) -> TypeNode:
        """``(params) -> R``, ``(params) -> (A, B)``, or ``((params) -> R)`` wrapped in
        parentheses."""
        open_tok = self.expect("(")
        params = self.parse_params()
        if not self.at("->"):
            if len(params) == 1 and params[0][0] is None:
                # `((a) -> b)`, Wippy's parenthesised function type, and `(A | B)?`-style
                # grouping, which reads the same way.
                return params[0][1]
            raise TypeSyntaxError("'->' expected after a function type's parameters", self.peek())
        self.take()
        return Function(params, self.parse_returns_after_arrow(open_tok))

    def parse_returns_after_arrow(self, open_tok: Token) -> list[TypeNode]:
        # "(A, B)" is a list of returns, unless its ')' is followed by '->': then it is the
        # parameter list of a function type that is returned.
        if self.at("(") and not self.opens_function_type():
            return self.parse_type_list()
        return [self.parse_type()]

    def opens_function_type(self) -> bool:
        """Whether the ``(`` here opens a function type (its ``)`` is followed by ``->``)
        rather than a parenthesised list of types."""
        close = self._matching_paren(self.pos)
        return self.tokens[close + 1].text == "->"

    def parse_type_list(self) -> list[TypeNode]:
        """``(A, B)`` or ``()``: a parenthesised list of types, from its ``(`` on."""
        self.expect("(")
        types = []
        while not self.at(")"):
            types.append(self.parse_type())
            if self.at(","):
                self.take()
            elif not self.at(")"):
                raise TypeSyntaxError("')' or ',' expected in a list of types", self.peek())
        self.take()
        return types

    def _matching_paren(self, index: int) -> int:
        depth = 0
        for i in range(index, len(self.tokens)):
            tok = self.tokens[i]
            if tok.kind == OP and tok.text in ("(", "[", "{"):
                depth += 1
            elif tok.kind == OP and tok.text in (")", "]", "}"):
                depth -= 1
                if depth == 0:
                    return i
            elif tok.kind == EOF:
                break
        raise TypeSyntaxError("')' expected to close '('", self.tokens[index])

    def parse_fun(self) -> TypeNode:
        """``fun(params)`` with an optional ``: R`` / ``: (A, B)`` / ``: ()``."""
        self.expect("(")
        params = self.parse_params()
        returns: list[TypeNode] | None = None
        if self.at(":"):
            self.take()
            returns = self.parse_type_list() if self.at("(") else [self.parse_type()]
        return Function(params, returns)

    def parse_type_params(self) -> list[str]:
        """``<T, U: Constraint>`` of a generic function or type declaration."""
        self.expect("<")
        names = []
        while True:
            name = self.take()
            if name.kind != NAME:
                raise TypeSyntaxError("type parameter name expected", name)
            names.append(name.text)
            if self.at(":"):
                self.take()
                self.parse_type()
            if self.at(","):
                self.take()
                continue
            break
        self.close_angle()
        return names


def substitute_typeof(node: TypeNode, known: dict[str, TypeNode]) -> TypeNode:
    """``node`` with every ``typeof(name)`` of a name in ``known`` (a chunk's annotated
    top-level locals) replaced by that local's annotation: the one ``typeof`` a runtime value
    can answer without a checker."""
    if isinstance(node, Opaque):
        found = known.get(node.expr) if node.form == "typeof" else None
        return found if found is not None else node
    for name in ("inner", "element", "key", "value", "type"):
        child = getattr(node, name, None)
        if isinstance(child, TypeNode):
            setattr(node, name, substitute_typeof(child, known))
    if isinstance(node, Union | Intersection):
        node.members = [substitute_typeof(m, known) for m in node.members]
    elif isinstance(node, Record):
        for f in node.fields:
            f.type = substitute_typeof(f.type, known)
    elif isinstance(node, Named):
        node.args = [substitute_typeof(a, known) for a in node.args]
    elif isinstance(node, Function):
        node.params = [(n, substitute_typeof(p, known)) for n, p in node.params]
        if node.returns is not None:
            node.returns = [substitute_typeof(r, known) for r in node.returns]
    return node
