using System.Globalization;
using System.Management.Automation;
using System.Management.Automation.Host;
using System.Security;
using System.Text.RegularExpressions;

namespace LayerTools.Shell;

/// <summary>
/// A PowerShell host that writes everything a person would see to a TextWriter: formatted output,
/// errors, warnings, verbose text, -WhatIf lines. It keeps progress records, and answers -Confirm
/// prompts from a queue of scripted choices.
/// </summary>
public sealed partial class TextHost : PSHost
{
    private readonly TextUserInterface _ui;

    public TextHost(TextWriter output, int width = 120)
    {
        _ui = new TextUserInterface(output, width);
    }

    /// <summary>Labels to answer the next confirmation prompts with, e.g. "&amp;Yes" or "&amp;No" (matched on the letter).</summary>
    public Queue<string> ConfirmAnswers => _ui.Answers;

    /// <summary>Every progress record written, in order.</summary>
    public IReadOnlyList<ProgressRecord> Progress => _ui.ProgressRecords;

    /// <summary>The prompts shown to the user, as caption + message.</summary>
    public IReadOnlyList<string> Prompts => _ui.PromptsShown;

    /// <summary>How many error lines were shown: an error that reached the screen was not handled by the script.</summary>
    public int ErrorLines => _ui.ErrorLines;

    public int? ExitCode { get; private set; }

    public override string Name => "LayerTools.Shell";
    public override Version Version { get; } = new(1, 0);
    public override Guid InstanceId { get; } = Guid.NewGuid();
    public override PSHostUserInterface UI => _ui;
    public override CultureInfo CurrentCulture => CultureInfo.InvariantCulture;
    public override CultureInfo CurrentUICulture => CultureInfo.InvariantCulture;
    public override void SetShouldExit(int exitCode) => ExitCode = exitCode;
    public override void EnterNestedPrompt() => throw new NotSupportedException("Nested prompts are not supported by this host.");
    public override void ExitNestedPrompt() => throw new NotSupportedException("Nested prompts are not supported by this host.");
    public override void NotifyBeginApplication() { }
    public override void NotifyEndApplication() { }

    private sealed partial class TextUserInterface(TextWriter screen, int width) : PSHostUserInterface
    {
        // The engine styles table headers with ANSI sequences even under PlainText rendering; a text screen shows none.
        private readonly TextWriter output = new PlainTextWriter(screen);

        private readonly TextRawUserInterface _raw = new(width);

        public Queue<string> Answers { get; } = new();
        public List<ProgressRecord> ProgressRecords { get; } = new();
        public List<string> PromptsShown { get; } = new();
        public int ErrorLines { get; private set; }

        public override PSHostRawUserInterface RawUI => _raw;
        public override void Write(string value) => output.Write(value);
        public override void Write(ConsoleColor foregroundColor, ConsoleColor backgroundColor, string value) => output.Write(value);
        public override void WriteLine(string value) => output.WriteLine(value);
        public override void WriteErrorLine(string value)
        {
            ErrorLines++;
            output.WriteLine(value);
        }

        public override void WriteDebugLine(string message) => output.WriteLine("DEBUG: " + message);
        public override void WriteVerboseLine(string message) => output.WriteLine("VERBOSE: " + message);
        public override void WriteWarningLine(string message) => output.WriteLine("WARNING: " + message);
        public override void WriteProgress(long sourceId, ProgressRecord record) => ProgressRecords.Add(record);

        public override string ReadLine() => throw new PSInvalidOperationException("This host cannot read input.");
        public override SecureString ReadLineAsSecureString() => throw new PSInvalidOperationException("This host cannot read input.");

        public override Dictionary<string, PSObject> Prompt(string caption, string message, System.Collections.ObjectModel.Collection<FieldDescription> descriptions) =>
            throw new PSInvalidOperationException($"This host cannot prompt for input ({caption}).");

        public override PSCredential PromptForCredential(string caption, string message, string userName, string targetName) =>
            throw new PSInvalidOperationException("This host cannot prompt for credentials.");

        public override PSCredential PromptForCredential(string caption, string message, string userName, string targetName,
            PSCredentialTypes allowedCredentialTypes, PSCredentialUIOptions options) =>
            throw new PSInvalidOperationException("This host cannot prompt for credentials.");

        public override int PromptForChoice(string caption, string message, System.Collections.ObjectModel.Collection<ChoiceDescription> choices, int defaultChoice)
        {
            PromptsShown.Add($"{caption}\n{message}");
            output.WriteLine(caption);
            output.WriteLine(message);
            if (Answers.Count == 0) throw new PSInvalidOperationException($"No scripted answer for the prompt '{caption}'.");
            string answer = Answers.Dequeue().Replace("&", "");
            for (int i = 0; i < choices.Count; i++)
                if (string.Equals(choices[i].Label.Replace("&", ""), answer, StringComparison.OrdinalIgnoreCase))
                    return i;
            throw new PSInvalidOperationException($"'{answer}' is not one of the choices of '{caption}'.");
        }
    }

    private sealed partial class PlainTextWriter(TextWriter inner) : TextWriter
    {
        public override System.Text.Encoding Encoding => inner.Encoding;
        public override void Write(char value) => inner.Write(value);
        public override void Write(string? value) => inner.Write(value is null ? null : Ansi().Replace(value, ""));
        public override void WriteLine(string? value) => inner.WriteLine(value is null ? null : Ansi().Replace(value, ""));
        public override void Flush() => inner.Flush();

        [GeneratedRegex("\x1b\\[[0-9;?]*[A-Za-z]")]
        private static partial Regex Ansi();
    }

    private sealed class TextRawUserInterface(int width) : PSHostRawUserInterface
    {
        public override ConsoleColor ForegroundColor { get; set; } = ConsoleColor.Gray;
        public override ConsoleColor BackgroundColor { get; set; } = ConsoleColor.Black;
        public override Coordinates CursorPosition { get; set; }
        public override Coordinates WindowPosition { get; set; }
        public override int CursorSize { get; set; }
        public override Size BufferSize { get; set; } = new(width, 9999);
        public override Size WindowSize { get; set; } = new(width, 50);
        public override Size MaxWindowSize => WindowSize;
        public override Size MaxPhysicalWindowSize => WindowSize;
        public override bool KeyAvailable => false;
        public override string WindowTitle { get; set; } = "";
        public override KeyInfo ReadKey(ReadKeyOptions options) => throw new PSInvalidOperationException("This host cannot read keys.");
        public override void FlushInputBuffer() { }
        public override void SetBufferContents(Coordinates origin, BufferCell[,] contents) { }
        public override void SetBufferContents(Rectangle rectangle, BufferCell fill) { }
        public override BufferCell[,] GetBufferContents(Rectangle rectangle) => new BufferCell[0, 0];
        public override void ScrollBufferContents(Rectangle source, Coordinates destination, Rectangle clip, BufferCell fill) { }
    }
}
