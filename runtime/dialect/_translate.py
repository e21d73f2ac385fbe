"""From Wippy's typed Lua to plain Lua 5.4, keeping every line and column.

A single pass over the tokens finds the type syntax by its position (a ``:`` after a name in a
``local`` or a parameter list, a ``:`` after a function's ``)``, generic parameters ``<T>``,
``as`` / ``::`` / ``!`` after an expression, ``type`` and ``interface`` declarations) and blanks
it: every character becomes a space except line breaks, so what is left compiles to the same
code and a Lua error still names the line and column the user wrote. Top-level ``type`` and
``interface`` declarations become runtime type values instead (``Point(v)``, ``Point:is(v)``),
written where the declaration was.

Plain Lua means what it meant: every form the translator touches is a syntax error in plain Lua
(``local x: T``, ``type X = T`` at a statement start, ``a as T``), except ``as`` used as a name,
which is read as a name wherever Lua could have meant one (see :meth:`_Translator._is_cast`).
"""

from __future__ import annotations

from dataclasses import dataclass

from runtime.dialect._emit import emit_declaration
from runtime.dialect._lexer import EOF, LUA_KEYWORDS, NAME, NUMBER, OP, STRING, Token, lex
from runtime.dialect._types import (
    Field,
    Function,
    Intersection,
    Named,
    Record,
    TypeNode,
    TypeParser,
    TypeSyntaxError,
    substitute_typeof,
)


class DialectError(Exception):
    """Typed syntax that does not parse: ``message`` reads like Lua's own syntax errors
    (``chunk:line: <what> near '<token>'``)."""

    def __init__(self, message: str, line: int) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


@dataclass(frozen=True, slots=True)
class Translation:
    """The plain Lua of a source, and the runtime types its top level declares."""

    code: str
    declared_types: tuple[str, ...]


# A token after which an operand must follow: a name there is part of an expression, never the
# start of a statement.
_EXPECTS_OPERAND = frozenset(
    {
        "=", ",", "(", "[", "{", "+", "-", "*", "/", "//", "%", "^", "#", "&", "~", "|", "<<",
        ">>", "..", "==", "~=", "<", "<=", ">", ">=", ".", ":", "::", "return", "local", "in",
        "not", "and", "or", "if", "elseif", "while", "until", "for", "function", "goto",
    }
)  # fmt: skip
_EXPRESSION_END_OPS = frozenset({")", "]", "}", "..."})
_EXPRESSION_END_WORDS = frozenset({"nil", "true", "false", "end"})
_BLOCK_OPENERS = frozenset({"do", "if", "repeat"})
_BLOCK_CLOSERS = frozenset({"end", "until"})
# After `as`, these mean `as` is a name (an assignment, a field, a call, a list).
_NAME_AS_FOLLOWERS = frozenset({"=", ",", ".", ":", "[", ")", "]", "}", ";", "..", "=="})


def translate(source: str, chunkname: str = "?") -> Translation:
    """Translate typed Lua ``source`` to plain Lua with the same lines and columns.

    Raises:
        DialectError: type syntax that does not parse, with the line it is on.
    """
    return _Translator(source, chunkname).run()


class _Translator:
    def __init__(self, source: str, chunkname: str) -> None:
        self.source = source
        self.chunkname = chunkname
        lexed = lex(source)
        self.lexed = lexed
        self.tokens = lexed.tokens
        self.i = 0
        self.depth = 0
        #: (start, end, replacement): None blanks the span.
        self.edits: list[tuple[int, int, str | None]] = []
        self.declared: list[str] = []
        #: Annotations of top-level locals, for `typeof(name)` in a runtime type.
        self.local_types: dict[str, TypeNode] = {}
        #: Index of the token after the last type syntax read: what follows a type is never
        #: an operand of it, whatever the type's last token looks like (`>`, `|`...).
        self.after_type = -1

    # -- driver ---------------------------------------------------------------------------------
    def run(self) -> Translation:
        tokens = self.tokens
        while tokens[self.i].kind != EOF:
            tok = tokens[self.i]
            if tok.kind == NAME:
                word = tok.text
                if word == "function":
                    self._function()
                    continue
                if word == "local":
                    self._local()
                    continue
                if word in ("type", "export") and self._at_type_declaration():
                    self._type_declaration()
                    continue
                if word == "interface" and self._at_interface_declaration():
                    self._interface_declaration()
                    continue
                if word in _BLOCK_OPENERS:
                    self.depth += 1
                elif word in _BLOCK_CLOSERS:
                    self.depth -= 1
            elif tok.kind == OP and tok.text == "::" and self._at_label():
                self.i += 3  # a goto label, `::name::`
                continue
            self.i += 1
            if _ends_expression(tok):
                self._postfix(tok)
        return Translation(self._apply(), tuple(self.declared))

    def _apply(self) -> str:
        if not self.edits:
            return self.source
        out = []
        pos = 0
        source = self.source
        for start, end, replacement in sorted(self.edits):
            out.append(source[pos:start])
            span = source[start:end]
            if replacement is None:
                out.append(_blank(span))
            else:
                # Same number of line breaks, so every later line keeps its number.
                out.append(replacement + "\n" * span.count("\n"))
            pos = end
        out.append(source[pos:])
        return "".join(out)

    # -- helpers --------------------------------------------------------------------------------
    def _tok(self, ahead: int = 0) -> Token:
        # The token list ends with LOOKAHEAD EOF tokens; the scan never passes the first.
        return self.tokens[self.i + ahead]

    def _is(self, text: str, ahead: int = 0) -> bool:
        # A string or number token's text never equals an operator or a word.
        return self.tokens[self.i + ahead].text == text

    def _line(self, tok: Token) -> int:
        return self.lexed.line(tok.start)

    def _previous(self) -> Token | None:
        return self.tokens[self.i - 1] if self.i > 0 else None

    def _at_statement_start(self) -> bool:
        prev = self._previous()
        return prev is None or prev.text not in _EXPECTS_OPERAND or self.i == self.after_type

    def _error(self, exc: TypeSyntaxError) -> DialectError:
        tok = exc.token
        near = tok.text if tok.kind != EOF else "<eof>"
        line = self._line(tok)
        return DialectError(f"{self.chunkname}:{line}: {exc.message} near '{near}'", line)

    def _parser(self) -> TypeParser:
        return TypeParser(self.tokens, self.source, self.i)

    def _erase_type_from(self, start_tok: Token) -> TypeNode:
        """Parse the type that starts at the current token and blank it together with
        ``start_tok`` (the ``:``, ``as`` or ``::`` before it)."""
        parser = self._parser()
        try:
            node = parser.parse_type()
        except TypeSyntaxError as exc:
            raise self._error(exc) from None
        self.i = self.after_type = parser.pos
        self.edits.append((start_tok.start, self.tokens[self.i - 1].end, None))
        return node

    def _erase_returns(self, colon: Token) -> None:
        """A function's return annotation after its ``)``: ``: T``, ``: A, B``, ``: (A, B)``,
        ``: ()``."""
        parser = self._parser()
        try:
            if parser.at("(") and not parser.opens_function_type():
                parser.parse_type_list()
            else:
                parser.parse_type()
                while parser.at(","):
                    parser.take()
                    parser.parse_type()
        except TypeSyntaxError as exc:
            raise self._error(exc) from None
        self.i = self.after_type = parser.pos
        self.edits.append((colon.start, self.tokens[self.i - 1].end, None))

    # -- statements -----------------------------------------------------------------------------
    def _local(self) -> None:
        self.i += 1  # local
        if self._is("function"):
            self._function()
            return
        while self._tok().kind == NAME and self._tok().text not in LUA_KEYWORDS:
            name = self._tok().text
            self.i += 1
            self._attribute()
            if self._is(":"):
                colon = self._tok()
                self.i += 1
                node = self._erase_type_from(colon)
                if self.depth == 0:
                    self.local_types[name] = node
            self._attribute()
            if not self._is(","):
                return
            self.i += 1

    def _attribute(self) -> None:
        # Lua 5.4's `local x <const>` / `<close>`: kept as written.
        if self._is("<") and self._tok(1).kind == NAME and self._is(">", 2):
            self.i += 3

    def _function(self) -> None:
        self.i += 1  # function
        # The name of a declaration (`function a.b:c`); none for a function expression.
        if self._tok().kind == NAME:
            self.i += 1
            while (self._is(".") or self._is(":")) and self._tok(1).kind == NAME:
                self.i += 2
        if self._is("<"):
            start = self._tok()
            parser = self._parser()
            try:
                parser.parse_type_params()
            except TypeSyntaxError as exc:
                raise self._error(exc) from None
            self.i = self.after_type = parser.pos
            self.edits.append((start.start, self.tokens[self.i - 1].end, None))
        if not self._is("("):
            return  # not a function Lua would accept either; Lua says why
        self.i += 1
        self._parameters()
        if self._is(")"):
            self.i += 1
            if self._is(":"):
                colon = self._tok()
                self.i += 1
                self._erase_returns(colon)
        self.depth += 1

    def _parameters(self) -> None:
        while not self._is(")") and self._tok().kind != EOF:
            tok = self._tok()
            if tok.kind == NAME or (tok.kind == OP and tok.text == "..."):
                self.i += 1
                if self._is(":"):
                    colon = self._tok()
                    self.i += 1
                    self._erase_type_from(colon)
                if self._is(","):
                    self.i += 1
                    continue
            return

    def _at_type_declaration(self) -> bool:
        ahead = 0
        if self._tok().text == "export":
            if not self._is("type", 1):
                return False
            ahead = 1
        name, after = self._tok(ahead + 1), self._tok(ahead + 2)
        return (
            name.kind == NAME
            and name.text not in LUA_KEYWORDS
            and after.kind == OP
            and after.text in ("=", "<")
            and self._at_statement_start()
        )

    def _type_declaration(self) -> None:
        first = self._tok()
        if first.text == "export":
            self.i += 1
        self.i += 1  # type
        name = self._tok().text
        self.i += 1
        parser = self._parser()
        try:
            params = parser.parse_type_params() if parser.at("<") else []
            parser.expect("=", f"in the declaration of type {name}")
            node = parser.parse_type()
        except TypeSyntaxError as exc:
            raise self._error(exc) from None
        self.i = self.after_type = parser.pos
        self._declare(first, name, params, node)

    def _at_interface_declaration(self) -> bool:
        name, after = self._tok(1), self._tok(2)
        return (
            name.kind == NAME
            and name.text not in LUA_KEYWORDS
            and after.kind in (OP, NAME)
            and after.text in (":", "function", "end")
            and self._at_statement_start()
        )

    def _interface_declaration(self) -> None:
        first = self._tok()
        self.i += 1  # interface
        name = self._tok().text
        self.i += 1
        parser = self._parser()
        members: list[TypeNode] = []
        fields: list[Field] = []
        try:
            if parser.at(":"):
                parser.take()
                while True:
                    base = parser.take()
                    if base.kind != NAME:
                        raise TypeSyntaxError("interface name expected after ':'", base)
                    members.append(Named((base.text,)))
                    if not parser.at(","):
                        break
                    parser.take()
            while parser.at("function"):
                parser.take()
                method = parser.take()
                if method.kind != NAME:
                    raise TypeSyntaxError("method name expected in an interface", method)
                parser.expect("(")
                params = _interface_params(parser)
                returns = None
                if parser.at(":"):
                    parser.take()
                    returns = [parser.parse_type()]
                    while parser.at(","):
                        parser.take()
                        returns.append(parser.parse_type())
                fields.append(Field(method.text, Function(params, returns)))
            parser.expect("end", f"to close interface {name}")
        except TypeSyntaxError as exc:
            raise self._error(exc) from None
        self.i = self.after_type = parser.pos
        node: TypeNode = Record(fields)
        if members:
            node = Intersection([*members, node])
        self._declare(first, name, [], node)

    def _declare(self, first: Token, name: str, params: list[str], node: TypeNode) -> None:
        end = self.tokens[self.i - 1].end
        if self.depth == 0:
            self.declared.append(name)
            node = substitute_typeof(node, self.local_types)
            self.edits.append((first.start, end, emit_declaration(name, params, node)))
        else:
            # Only a chunk's top-level declarations are runtime values (as in Wippy).
            self.edits.append((first.start, end, None))

    # -- expressions ----------------------------------------------------------------------------
    def _postfix(self, after: Token) -> None:
        """Casts and non-nil assertions after an expression that ended with ``after``."""
        while True:
            tok = self._tok()
            if tok.kind == OP and tok.text == "!":
                nxt = self._tok(1)
                if nxt.kind == OP and nxt.text in ("=", "==") and nxt.start == tok.end:
                    line = self._line(tok)
                    raise DialectError(
                        f"{self.chunkname}:{line}: '!=' is not an operator (use '~=') near '!'",
                        line,
                    )
                self.edits.append((tok.start, tok.end, None))
                self.i += 1
                continue
            if tok.kind == NAME and tok.text == "as" and self._is_cast(after, tok):
                self.i += 1
                self._erase_type_from(tok)
                continue
            if tok.kind == OP and tok.text == "::" and not self._at_label():
                self.i += 1
                self._erase_type_from(tok)
                continue
            return

    def _is_cast(self, after: Token, as_tok: Token) -> bool:
        nxt = self._tok(1)
        if nxt.kind == EOF or (nxt.kind == OP and nxt.text in _NAME_AS_FOLLOWERS):
            return False
        # On a new line, `as (...)`, `as {...}` and `as "..."` are calls of a function named
        # `as` in plain Lua; on the expression's own line they can only be casts.
        new_line = "\n" in self.source[after.end : as_tok.start]
        return not (new_line and (nxt.kind == STRING or (nxt.kind == OP and nxt.text in "({")))

    def _at_label(self) -> bool:
        tok, name, close = self._tok(), self._tok(1), self._tok(2)
        return (
            name.kind == NAME
            and close.kind == OP
            and close.text == "::"
            and "\n" not in self.source[tok.start : close.end]
        )


def _interface_params(parser: TypeParser) -> list[tuple[str | None, TypeNode]]:
    params: list[tuple[str | None, TypeNode]] = []
    while not parser.at(")"):
        tok = parser.take()
        if tok.kind == NAME or tok.text == "...":
            ptype: TypeNode = Named(("any",))
            if parser.at(":"):
                parser.take()
                ptype = parser.parse_type()
            params.append((tok.text, ptype))
        else:
            raise TypeSyntaxError("parameter name expected", tok)
        if parser.at(","):
            parser.take()
        elif not parser.at(")"):
            raise TypeSyntaxError("')' or ',' expected", parser.peek())
    parser.take()
    return params


def _ends_expression(tok: Token) -> bool:
    if tok.kind == NAME:
        return tok.text not in LUA_KEYWORDS or tok.text in _EXPRESSION_END_WORDS
    if tok.kind in (NUMBER, STRING):
        return True
    return tok.kind == OP and tok.text in _EXPRESSION_END_OPS


def _blank(span: str) -> str:
    return "".join(c if c in "\r\n" else " " for c in span)
